import type { Logger } from '../log/logger.js';
import type { ResolvedCollectorOptions } from './options.js';
import type { ReportStore } from './report-store.js';
import type { TokenLedger } from './token-ledger.js';

/** State shared by the collector's routes. */
export interface CollectorContext {
  options: ResolvedCollectorOptions;
  logger: Logger;
  /** Key of the HMAC that signs upload tokens. Never logged. */
  secret: Buffer;
  store: ReportStore;
  tokens: TokenLedger;
  /** Base of upload URLs: the public URL, else the listening URL once it is known. */
  uploadBaseUrl: string;
  /** Upload bodies streaming in, awaited on close so that their temporary files are removed. */
  uploadsInFlight: Set<Promise<unknown>>;
}
