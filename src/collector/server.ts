import type { AddressInfo } from 'node:net';

import rateLimit from '@fastify/rate-limit';
import Fastify from 'fastify';

import { ExoError, describeError, errorCode } from '../errors.js';
import type { CollectorContext } from './context.js';
import { installErrorHandling } from './error-handling.js';
import { registerListingRoute } from './listing-route.js';
import { resolveCollectorOptions, type CollectorOptions } from './options.js';
import { MAX_PENDING_UPLOADS, PRESIGN_BODY_LIMIT_BYTES, registerPresignRoute } from './presign-route.js';
import { RequestRejection } from './rejection.js';
import { ReportStore } from './report-store.js';
import { loadUploadSecret } from './secret.js';
import { TokenLedger } from './token-ledger.js';
import { registerUploadRoute } from './upload-route.js';

export type { CollectorOptions } from './options.js';

/** A socket with no traffic for this long is closed, so stalled clients free their slot. */
const SOCKET_IDLE_TIMEOUT_MS = 60_000;
/**
 * Maximum time to receive a whole request, body included. A 50 MiB upload must
 * therefore arrive at about 90 KB/s or more. NOTE: an estimate of a slow uplink, not measured.
 */
const REQUEST_TIMEOUT_MS = 10 * 60_000;
/** Room for an upload token (131 characters), because fastify returns 404 for a longer path parameter. */
const MAX_PATH_PARAMETER_LENGTH = 256;

/** A running collector. */
export interface Collector {
  /** Listening URL, as `http://HOST:PORT`. */
  readonly url: string;
  readonly port: number;
  /** Absolute path of the store. */
  readonly storeDir: string;
  /** Base of the upload URLs it hands out: the public URL when set, else `url`. */
  readonly uploadBaseUrl: string;
  /** Stops listening, ends open connections and waits for partial uploads to be removed. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts the reference collector: the server side of the crash-report contract
 * (presign, upload, listing) over a local store. Rejects with a UsageError for an
 * option that cannot be used and an ExoError when it cannot listen.
 */
export async function startCollector(options: CollectorOptions): Promise<Collector> {
  const resolved = resolveCollectorOptions(options);
  const { logger } = resolved;

  const store = await ReportStore.open(resolved.storeDir, logger);
  const secret = resolved.secret ?? (await loadUploadSecret({ secretFile: resolved.secretFile, storeDir: store.storeDir, logger }));
  const context: CollectorContext = {
    options: resolved,
    logger,
    secret,
    store,
    tokens: new TokenLedger(MAX_PENDING_UPLOADS),
    uploadBaseUrl: resolved.publicUrl ?? '',
    uploadsInFlight: new Set(),
  };

  const app = Fastify({
    // The collector logs through winston; fastify's own request logs would duplicate it.
    logger: false,
    bodyLimit: PRESIGN_BODY_LIMIT_BYTES,
    routerOptions: { maxParamLength: MAX_PATH_PARAMETER_LENGTH },
    connectionTimeout: SOCKET_IDLE_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    // On close, end uploads in flight too: their clients retry with a new presign.
    forceCloseConnections: true,
  });
  installErrorHandling(app, logger);
  await app.register(rateLimit, {
    // Only routes that ask for it, which is the presign route.
    global: false,
    errorResponseBuilder: (request, limit) =>
      new RequestRejection(429, 'ERR_RATE_LIMITED', `too many presign requests from ${request.ip}: at most ${limit.max} per minute; retry in ${limit.after}`),
  });
  registerPresignRoute(app, context);
  await registerUploadRoute(app, context);
  registerListingRoute(app, context);
  app.get('/healthz', async () => ({ status: 'ok' }));

  try {
    await app.listen({ host: resolved.host, port: resolved.port });
  } catch (error) {
    await app.close();
    const fix = errorCode(error) === 'EADDRINUSE' ? 'choose another --port, or 0 for a free one' : 'check --host and --port';
    throw new ExoError('ERR_COLLECTOR_LISTEN', `cannot listen on ${resolved.host}:${resolved.port}: ${describeError(error)}; ${fix}`, { cause: error });
  }

  const port = (app.server.address() as AddressInfo).port;
  const url = `http://${formatHost(resolved.host)}:${port}`;
  context.uploadBaseUrl = resolved.publicUrl ?? url;
  logger.info('collector listening', { url, store: store.storeDir, reports: store.reportCount, maxSizeBytes: resolved.maxSizeBytes });
  if (resolved.publicUrl === undefined && isUnspecifiedAddress(resolved.host)) {
    logger.warn('upload URLs point at an address that clients cannot reach; set --public-url to the address they use', { uploadBaseUrl: url });
  }

  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    await app.close();
    await Promise.allSettled([...context.uploadsInFlight]);
    logger.info('collector stopped', { url });
  };
  return {
    url,
    port,
    storeDir: store.storeDir,
    uploadBaseUrl: context.uploadBaseUrl,
    close: () => (closing ??= close()),
  };
}

/** Puts an IPv6 literal in brackets, as a URL needs. */
function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function isUnspecifiedAddress(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}
