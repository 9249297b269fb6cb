import type { Readable } from 'node:stream';

import axios from 'axios';

import { parseRetryAfter } from '../backoff.js';
import { IdleDeadline } from './deadline.js';
import { failureFromError, UploadStepError } from './failure.js';
import { HTTP_USER_AGENT, MAX_RESPONSE_BYTES, readHeader } from './http.js';
import type { PresignGrant } from './presign.js';
import { HashVerifyingStream } from './verify-stream.js';

/**
 * PUTs `size` bytes from `body` to a presigned URL: streamed, with an exact
 * Content-Length (so Node.js sends no chunked encoding), no redirect followed,
 * no cookie or credential, and the bytes checked against `sha256` on the way
 * (see HashVerifyingStream). The request is aborted when no byte moved and no
 * response came for `timeoutMs`. Rejects with an UploadStepError (step `put`).
 */
export async function putPayload(
  grant: PresignGrant,
  body: Readable,
  expected: { sha256: string; size: number },
  options: { timeoutMs: number; signal: AbortSignal; now: () => number },
): Promise<void> {
  const deadline = new IdleDeadline(options.timeoutMs, 'upload', options.signal);
  const verifier = new HashVerifyingStream(expected, () => deadline.touch());
  body.on('error', (error) => verifier.destroy(error));
  body.pipe(verifier);

  try {
    const response = await axios.request<string>({
      method: 'PUT',
      url: grant.uploadUrl.href,
      data: verifier,
      headers: {
        'Content-Type': 'application/octet-stream',
        'User-Agent': HTTP_USER_AGENT,
        ...grant.headers,
        'Content-Length': String(expected.size),
      },
      signal: deadline.signal,
      maxRedirects: 0,
      // -1 would also mean no limit, but Infinity states it: logs of any size are streamed.
      maxBodyLength: Infinity,
      maxContentLength: MAX_RESPONSE_BYTES,
      responseType: 'text',
      transformResponse: [(data: string) => data],
      validateStatus: () => true,
      withCredentials: false,
      // As for the presign: plain http to loopback must not be sent through HTTP_PROXY.
      proxy: grant.uploadUrl.protocol === 'http:' ? false : undefined,
    });

    const status = response.status;
    if (status < 200 || status > 299) {
      // The body of an object store's error can quote the request signature, so only the status is kept.
      throw new UploadStepError({
        step: 'put',
        status,
        message: `upload returned HTTP ${status}`,
        retryAfterMs: parseRetryAfter(readHeader(response.headers, 'retry-after'), options.now()),
      });
    }
  } catch (error) {
    const failure = failureFromError('put', error, deadline.signal);
    // Whatever produced the message, the presigned URL's query (its signature) must not reach a log.
    const query = grant.uploadUrl.search;
    if (query !== '') failure.message = failure.message.split(query).join('?[query removed]');
    throw new UploadStepError(failure);
  } finally {
    deadline.clear();
    body.destroy();
    verifier.destroy();
  }
}
