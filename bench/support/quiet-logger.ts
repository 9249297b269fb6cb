import { Writable } from 'node:stream';

import { createLogger, type Logger } from '../../src/log/logger.js';

/**
 * Returns a logger at the node's default console level (info) whose stream
 * discards everything, so the cost of formatting each entry is paid as in a
 * node but nothing is written.
 */
export function quietLogger(): Logger {
  const nowhere = new Writable({ write: (_chunk, _encoding, done) => done() });
  return createLogger({ verbosity: 0, format: 'human', consoleStream: nowhere });
}
