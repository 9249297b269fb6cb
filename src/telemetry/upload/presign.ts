import axios from 'axios';

import { checkUploadUrl } from '../api-url.js';
import { parseRetryAfter } from '../backoff.js';
import { IdleDeadline } from './deadline.js';
import { failureFromError, UploadStepError } from './failure.js';
import { HTTP_USER_AGENT, MAX_RESPONSE_BYTES, readHeader, responseSnippet } from './http.js';

export const PRESIGN_PATH = '/telemetry/runner-log/presign';

/** Code of a presign response that cannot be used. Retried: a proxy or captive portal in between is the usual cause. */
export const INVALID_PRESIGN_RESPONSE_CODE = 'ERR_INVALID_PRESIGN_RESPONSE';

/** The body of a presign request. */
export interface PresignRequest {
  sha256: string;
  size: number;
  metadata: Record<string, unknown>;
}

/** A validated presign response: where to PUT the bytes, and until when. */
export interface PresignGrant {
  key: string;
  uploadUrl: URL;
  /** Lifetime of `uploadUrl`, in seconds from the response. */
  expiresIn: number;
  /** Largest payload the server takes, in bytes. */
  maxSize: number;
  /** Headers to send with the PUT. */
  headers: Record<string, string>;
  /** When the response arrived, in milliseconds since the Unix epoch. */
  receivedAtMs: number;
}

/**
 * Header names a presign response may not ask for: the PUT sets its own framing
 * (Content-Length, no chunked encoding), and no credential or cookie goes to the upload host.
 */
const RESERVED_HEADERS = new Set([
  'authorization',
  'connection',
  'content-length',
  'cookie',
  'expect',
  'host',
  'keep-alive',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
const HEADER_NAME_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE_PATTERN = /^[\t\x20-\x7e\x80-\xff]*$/;
const MAX_KEY_LENGTH = 1024;
const MAX_HEADERS = 32;

/**
 * Requests an upload URL from the API and resolves with the validated grant.
 * On failure it rejects with an UploadStepError (step `presign`). The error
 * carries the HTTP status, the `Retry-After` delay, and the `maxSize` named by
 * a 400 or 413 rejection.
 */
export async function requestPresign(
  apiUrl: string,
  body: PresignRequest,
  options: { timeoutMs: number; signal: AbortSignal; now: () => number },
): Promise<PresignGrant> {
  const deadline = new IdleDeadline(options.timeoutMs, 'presign request', options.signal);
  try {
    const response = await axios.request<string>({
      method: 'POST',
      url: `${apiUrl}${PRESIGN_PATH}`,
      data: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'User-Agent': HTTP_USER_AGENT },
      signal: deadline.signal,
      maxRedirects: 0,
      maxContentLength: MAX_RESPONSE_BYTES,
      maxBodyLength: MAX_RESPONSE_BYTES,
      responseType: 'text',
      transformResponse: [(data: string) => data],
      validateStatus: () => true,
      withCredentials: false,
      // Plain http is allowed only to loopback because it never leaves the machine, so
      // HTTP_PROXY must not carry it elsewhere. https goes through a proxy as a CONNECT tunnel.
      proxy: apiUrl.startsWith('http:') ? false : undefined,
    });

    const status = response.status;
    if (status < 200 || status > 299) {
      throw new UploadStepError({
        step: 'presign',
        status,
        message: `presign returned HTTP ${status}${responseSnippet(response.data)}`,
        retryAfterMs: parseRetryAfter(readHeader(response.headers, 'retry-after'), options.now()),
        maxSize: status === 400 || status === 413 ? maxSizeNamedIn(response.data) : undefined,
      });
    }
    return parsePresignResponse(response.data, options.now());
  } catch (error) {
    throw new UploadStepError(failureFromError('presign', error, deadline.signal));
  } finally {
    deadline.clear();
  }
}

/** Returns the `maxSize` that a presign rejection names in its JSON body, if any. */
function maxSizeNamedIn(text: string): number | undefined {
  try {
    const value = (JSON.parse(text) as { maxSize?: unknown }).maxSize;
    return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Validates a presign response body. Throws UploadStepError with code
 * ERR_INVALID_PRESIGN_RESPONSE naming the field that is missing or wrong.
 */
export function parsePresignResponse(text: string, receivedAtMs: number): PresignGrant {
  const invalid = (reason: string): never => {
    throw new UploadStepError({ step: 'presign', code: INVALID_PRESIGN_RESPONSE_CODE, message: `invalid presign response: ${reason}` });
  };

  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return invalid('the body is not JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return invalid('the body is not a JSON object');
  const fields = body as Record<string, unknown>;

  const { key, uploadUrl, expiresIn, maxSize, headers } = fields;
  if (typeof key !== 'string' || key === '' || key.length > MAX_KEY_LENGTH) {
    return invalid(`key must be a string of 1 to ${MAX_KEY_LENGTH} characters`);
  }
  if (typeof uploadUrl !== 'string') return invalid('uploadUrl must be a string');
  let url: URL;
  try {
    url = checkUploadUrl(uploadUrl);
  } catch (error) {
    return invalid((error as Error).message);
  }
  if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0) return invalid('expiresIn must be a positive number of seconds');
  if (typeof maxSize !== 'number' || !Number.isSafeInteger(maxSize) || maxSize <= 0) return invalid('maxSize must be a positive integer');

  return { key, uploadUrl: url, expiresIn, maxSize, headers: parseUploadHeaders(headers, invalid), receivedAtMs };
}

function parseUploadHeaders(value: unknown, invalid: (reason: string) => never): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return invalid('headers must be an object');

  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_HEADERS) return invalid(`headers must hold at most ${MAX_HEADERS} entries`);
  const headers: Record<string, string> = {};
  for (const [name, headerValue] of entries) {
    if (!HEADER_NAME_PATTERN.test(name)) return invalid(`header name ${JSON.stringify(name)} is not a valid token`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) return invalid(`header ${name} may not be set by the server`);
    if (typeof headerValue !== 'string' || !HEADER_VALUE_PATTERN.test(headerValue)) {
      return invalid(`header ${name} must have a string value without line breaks`);
    }
    headers[name] = headerValue;
  }
  return headers;
}
