import type { FastifyInstance } from 'fastify';

import type { CollectorContext } from './context.js';
import { RequestRejection } from './rejection.js';
import { reportKey } from './report-store.js';
import { issueUploadToken } from './upload-token.js';

/** Serialized metadata larger than this is rejected: it is stored beside every report. */
export const MAX_METADATA_BYTES = 16 * 1024;
/** Body limit of the presign request: the metadata plus room for the other fields. */
export const PRESIGN_BODY_LIMIT_BYTES = 2 * MAX_METADATA_BYTES;
/** Tokens issued and not used yet whose metadata is held in memory (at most 16 KiB each). */
export const MAX_PENDING_UPLOADS = 4096;

export interface PresignRequest {
  sha256: string;
  size: number;
  metadata: Record<string, unknown> | null;
}

export interface PresignResponse {
  key: string;
  uploadUrl: string;
  /** Seconds until `uploadUrl` stops working. */
  expiresIn: number;
  /** Largest upload the collector accepts, in bytes. */
  maxSize: number;
}

/**
 * Checks a presign body and returns its fields, or throws a 400 naming the first
 * field at fault. Unknown top-level fields are ignored, so newer clients can add some.
 */
export function parsePresignRequest(body: unknown, maxSizeBytes: number): PresignRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalidField('body', 'expected a JSON object with "sha256" and "size"');
  }
  const fields = body as Record<string, unknown>;

  const sha256 = fields.sha256;
  if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) {
    throw invalidField('sha256', 'expected the SHA-256 of the log as 64 lowercase hexadecimal characters');
  }

  const size = fields.size;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > maxSizeBytes) {
    throw invalidField('size', `expected the log size as an integer from 1 to ${maxSizeBytes} bytes`);
  }

  const metadata = fields.metadata;
  if (metadata === undefined || metadata === null) {
    return { sha256, size, metadata: null };
  }
  if (typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw invalidField('metadata', 'expected a JSON object');
  }
  if (Buffer.byteLength(JSON.stringify(metadata)) > MAX_METADATA_BYTES) {
    throw invalidField('metadata', `expected at most ${MAX_METADATA_BYTES} bytes of JSON`);
  }
  return { sha256, size, metadata: metadata as Record<string, unknown> };
}

function invalidField(field: string, expected: string): RequestRejection {
  return new RequestRejection(400, 'ERR_INVALID_PRESIGN_REQUEST', `invalid ${field}: ${expected}`, field);
}

/** `POST /telemetry/runner-log/presign`: issues a single-use upload URL bound to a SHA-256 and size. */
export function registerPresignRoute(app: FastifyInstance, context: CollectorContext): void {
  const { options } = context;

  app.post(
    '/telemetry/runner-log/presign',
    {
      bodyLimit: PRESIGN_BODY_LIMIT_BYTES,
      config: { rateLimit: { max: options.presignRateLimit, timeWindow: 60_000 } },
    },
    async (request, reply): Promise<PresignResponse> => {
      const upload = parsePresignRequest(request.body, options.maxSizeBytes);

      const nowMs = Date.now();
      const { token, claims } = issueUploadToken(context.secret, upload, options.tokenTtlSeconds * 1000, nowMs);
      if (!context.tokens.issue(claims, upload.metadata, nowMs)) {
        reply.header('retry-after', '60');
        throw new RequestRejection(503, 'ERR_TOO_MANY_PENDING_UPLOADS', `too many pending uploads: ${MAX_PENDING_UPLOADS} upload URLs are issued and not used yet; retry in a minute`);
      }

      context.logger.debug('upload URL issued', { sha256: upload.sha256.slice(0, 12), size: upload.size, ip: request.ip });
      return {
        key: reportKey(upload.sha256),
        uploadUrl: `${context.uploadBaseUrl}/uploads/${token}`,
        expiresIn: options.tokenTtlSeconds,
        maxSize: options.maxSizeBytes,
      };
    },
  );
}
