import type { FastifyInstance } from 'fastify';

import type { CollectorContext } from './context.js';
import { RequestRejection } from './rejection.js';
import { decodeCursor, type ListingCursor, type ReportPage } from './report-index.js';

export const DEFAULT_LISTING_LIMIT = 50;
export const MAX_LISTING_LIMIT = 1000;

/** Checks the query of a listing request, or throws a 400 naming the parameter at fault. */
export function parseListingQuery(query: Record<string, unknown>): { limit: number; cursor: ListingCursor | undefined } {
  let limit = DEFAULT_LISTING_LIMIT;
  if (query.limit !== undefined) {
    const text = query.limit;
    limit = typeof text === 'string' && /^\d{1,7}$/.test(text) ? Number(text) : NaN;
    if (!(limit >= 1 && limit <= MAX_LISTING_LIMIT)) {
      throw new RequestRejection(400, 'ERR_INVALID_LISTING_REQUEST', `invalid limit ${JSON.stringify(text)}: expected an integer from 1 to ${MAX_LISTING_LIMIT}`, 'limit');
    }
  }

  let cursor: ListingCursor | undefined;
  if (query.cursor !== undefined) {
    cursor = typeof query.cursor === 'string' ? decodeCursor(query.cursor) : undefined;
    if (cursor === undefined) {
      throw new RequestRejection(400, 'ERR_INVALID_LISTING_REQUEST', 'invalid cursor: pass the nextCursor of an earlier page unchanged', 'cursor');
    }
  }
  return { limit, cursor };
}

/** `GET /telemetry/runner-log?limit=N&cursor=C`: stored reports, newest first. */
export function registerListingRoute(app: FastifyInstance, context: CollectorContext): void {
  // TODO: the listing has no authentication, so expose it only on loopback or behind a proxy that authenticates.
  app.get('/telemetry/runner-log', async (request): Promise<ReportPage> => {
    const { limit, cursor } = parseListingQuery(request.query as Record<string, unknown>);
    return context.store.list(limit, cursor);
  });
}
