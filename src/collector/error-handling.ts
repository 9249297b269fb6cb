import type { FastifyInstance, FastifyRequest } from 'fastify';

import type { Logger } from '../log/logger.js';
import { RepeatLimiter } from '../log/repeat-limiter.js';
import { RequestRejection, type ErrorBody } from './rejection.js';

/** Rejection warnings logged per reason per minute, so that a flood of requests cannot flood the log. */
const REJECTION_LOGS_PER_MINUTE = 20;

/**
 * Sends every error as an ErrorBody and logs it: rejections at warn with the reason,
 * status and client IP, failures of the collector itself at error.
 */
export function installErrorHandling(app: FastifyInstance, logger: Logger): void {
  const repeats = new RepeatLimiter(REJECTION_LOGS_PER_MINUTE, 60_000);

  app.setNotFoundHandler((request) => {
    throw new RequestRejection(404, 'ERR_NOT_FOUND', `no route for ${request.method} ${requestPath(request)}`);
  });

  app.setErrorHandler((error, request, reply) => {
    const rejection = toRejection(error);
    if (rejection === undefined) {
      logger.error('request failed', { method: request.method, route: routeOf(request), ip: request.ip, error: error instanceof Error ? error.stack : String(error) });
      reply.code(500).send({ error: 'ERR_INTERNAL', message: 'internal error of the collector; see its log' } satisfies ErrorBody);
      return;
    }

    const { allowed, suppressedBefore } = repeats.take(rejection.code, Date.now());
    if (allowed) {
      logger.warn('request rejected', {
        reason: rejection.code,
        status: rejection.statusCode,
        detail: rejection.message,
        ip: request.ip,
        method: request.method,
        route: routeOf(request),
        ...(suppressedBefore > 0 ? { suppressedBefore } : {}),
      });
    }

    // Close the connection rather than read and discard a body that may be up to the max size.
    if (!request.raw.complete) reply.header('connection', 'close');

    const body: ErrorBody = { error: rejection.code, message: rejection.message };
    if (rejection.field !== undefined) body.field = rejection.field;
    reply.code(rejection.statusCode).send(body);
  });
}

/** Returns the rejection behind a 4xx error, or undefined for a failure of the collector. */
function toRejection(error: unknown): RequestRejection | undefined {
  if (error instanceof RequestRejection) return error;

  const fastifyError = error as { statusCode?: unknown; code?: unknown; message?: unknown };
  const status = typeof fastifyError.statusCode === 'number' ? fastifyError.statusCode : 500;
  if (status < 400 || status >= 500) return undefined;

  // Fastify's own rejections (body too large, invalid JSON, unsupported media type) keep their code.
  const code = typeof fastifyError.code === 'string' ? fastifyError.code : 'ERR_INVALID_REQUEST';
  return new RequestRejection(status, code, String(fastifyError.message), 'body');
}

/** Returns the route pattern, never the URL itself, because an upload URL carries its token. */
function routeOf(request: FastifyRequest): string {
  return request.routeOptions.url ?? requestPath(request);
}

/** Returns the path without its query, with the token of an upload path left out. */
function requestPath(request: FastifyRequest): string {
  const pathname = request.url.split('?')[0];
  return pathname.startsWith('/uploads/') ? '/uploads/[token]' : pathname.slice(0, 200);
}
