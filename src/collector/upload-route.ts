import fs from 'node:fs/promises';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

import type { FastifyInstance } from 'fastify';

import type { CollectorContext } from './context.js';
import { receiveBody } from './receive-body.js';
import { RequestRejection } from './rejection.js';
import { verifyUploadToken, type UploadTokenClaims } from './upload-token.js';

export interface UploadResponse {
  key: string;
  sha256: string;
  size: number;
  /** True when these bytes were stored before and this upload was discarded. */
  duplicate: boolean;
}

/**
 * `PUT /uploads/:token`: receives the bytes announced at presign. Statuses:
 * - 403 for a malformed token or one not signed by this collector's secret;
 * - 410 for an expired token, 409 for one whose upload started before;
 * - 411 without a Content-Length, which includes any Transfer-Encoding such as chunked;
 * - 413 for a Content-Length above the max size, 400 for one that differs from the announced size;
 * - 400 when the bytes do not hash to the announced SHA-256; nothing stays in the store;
 * - 200 when stored, and 200 with `duplicate: true` when these bytes were stored before.
 *
 * A token is consumed once its body starts streaming, so a failed or mismatched upload
 * needs a new presign. A request rejected on its headers leaves the token usable.
 */
export async function registerUploadRoute(app: FastifyInstance, context: CollectorContext): Promise<void> {
  // A plugin of its own, so that the raw-stream parser applies to this route only.
  await app.register(async (uploads) => {
    // Hand the body over unread, whatever its content type, so it streams to disk.
    uploads.removeAllContentTypeParsers();
    uploads.addContentTypeParser('*', (_request, payload, done) => {
      done(null, payload);
    });

    uploads.put<{ Params: { token: string } }>(
      '/uploads/:token',
      // Fastify enforces bodyLimit only on bodies it buffers. receiveBody enforces it on this stream.
      { bodyLimit: context.options.maxSizeBytes },
      async (request): Promise<UploadResponse> => {
        const claims = checkToken(context, request.params.token);
        checkContentLength(request.headers, claims, context.options.maxSizeBytes);

        const consumed = context.tokens.consume(claims, Date.now());
        if (consumed.status === 'used') {
          throw new RequestRejection(409, 'ERR_UPLOAD_TOKEN_USED', 'upload URL was used already; request a new one with a presign request');
        }
        if (consumed.issuedBeforeRestart) {
          context.logger.warn('upload URL was issued before the collector restarted, storing the report without metadata', { sha256: claims.sha256.slice(0, 12), ip: request.ip });
        }

        const upload = storeUpload(context, request.body as IncomingMessage, claims, consumed.metadata);
        context.uploadsInFlight.add(upload);
        try {
          return await upload;
        } finally {
          context.uploadsInFlight.delete(upload);
        }
      },
    );
  });
}

function checkToken(context: CollectorContext, token: string): UploadTokenClaims {
  const claims = verifyUploadToken(context.secret, token);
  if (claims === undefined) {
    throw new RequestRejection(403, 'ERR_UPLOAD_TOKEN_INVALID', 'upload URL is invalid or was not issued by this collector; request a new one with a presign request');
  }
  if (Date.now() > claims.expiresAtMs) {
    throw new RequestRejection(410, 'ERR_UPLOAD_TOKEN_EXPIRED', `upload URL expired at ${new Date(claims.expiresAtMs).toISOString()}; request a new one with a presign request`);
  }
  return claims;
}

/** Requires a Content-Length equal to the announced size, before a byte of the body is read. */
function checkContentLength(headers: IncomingHttpHeaders, claims: UploadTokenClaims, maxSizeBytes: number): void {
  // Node 20's HTTP parser rejects a request with both headers (400), so a body sent with Transfer-Encoding never has a length here.
  const transferEncoding = headers['transfer-encoding'];
  if (transferEncoding !== undefined) {
    throw new RequestRejection(411, 'ERR_CHUNKED_UPLOAD', `Transfer-Encoding ${JSON.stringify(transferEncoding)} is not accepted; send the body with Content-Length: ${claims.size}`);
  }
  const header = headers['content-length'];
  if (header === undefined) {
    throw new RequestRejection(411, 'ERR_CONTENT_LENGTH_MISSING', `Content-Length is missing; send Content-Length: ${claims.size}`);
  }

  const contentLength = Number(header);
  if (contentLength > maxSizeBytes) {
    throw new RequestRejection(413, 'ERR_BODY_TOO_LARGE', `Content-Length ${header} exceeds the max size of ${maxSizeBytes} bytes`);
  }
  if (contentLength !== claims.size) {
    throw new RequestRejection(400, 'ERR_CONTENT_LENGTH_MISMATCH', `Content-Length ${header} differs from the ${claims.size} bytes announced at presign`);
  }
}

async function storeUpload(
  context: CollectorContext,
  body: IncomingMessage,
  claims: UploadTokenClaims,
  metadata: Record<string, unknown> | null,
): Promise<UploadResponse> {
  const { store, logger } = context;
  const tempPath = store.newTempPath();
  try {
    let received: { size: number; sha256: string };
    try {
      received = await receiveBody(body, tempPath, claims.size);
    } catch (error) {
      // A client that went away is a rejection, but a failed disk stays an error of the collector.
      if (error instanceof RequestRejection || body.complete) throw error;
      throw new RequestRejection(400, 'ERR_UPLOAD_INCOMPLETE', `upload body ended before the ${claims.size} bytes of its Content-Length arrived`);
    }

    if (received.size !== claims.size) {
      throw new RequestRejection(400, 'ERR_SIZE_MISMATCH', `upload body has ${received.size} bytes, not the ${claims.size} announced at presign`);
    }
    if (received.sha256 !== claims.sha256) {
      throw new RequestRejection(400, 'ERR_SHA256_MISMATCH', `upload body hashes to ${received.sha256}, not to the SHA-256 announced at presign; hash the exact bytes you send`);
    }

    const { report, duplicate } = await store.commit(tempPath, { sha256: claims.sha256, size: claims.size, metadata, receivedAtMs: Date.now() });
    if (duplicate) {
      logger.info('report already stored, upload discarded', { key: report.key, size: report.size, sha256: claims.sha256.slice(0, 12), repeatCount: report.repeatCount });
    } else {
      logger.info('report received', { key: report.key, size: report.size, sha256: claims.sha256.slice(0, 12) });
    }
    return { key: report.key, sha256: report.sha256, size: report.size, duplicate };
  } finally {
    // A successful commit renamed the file away. After any failure this removes the partial upload.
    await fs.rm(tempPath, { force: true });
  }
}
