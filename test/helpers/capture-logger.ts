import winston from 'winston';
import Transport from 'winston-transport';

import type { Logger } from '../../src/log/logger.js';

/** One log entry as the code under test wrote it. */
export interface CapturedEntry {
  level: string;
  message: string;
  meta: Record<string, unknown>;
}

class ArrayTransport extends Transport {
  constructor(private readonly entries: CapturedEntry[]) {
    super({ level: 'silly' });
  }

  override log(info: Record<string | symbol, unknown>, callback: () => void): void {
    const { level, message, ...meta } = info;
    this.entries.push({ level: String(level), message: String(message), meta: meta as Record<string, unknown> });
    callback();
  }
}

/** Returns a real winston logger whose entries land in `entries`, for tests that assert log lines. */
export function captureLogger(): { logger: Logger; entries: CapturedEntry[] } {
  const entries: CapturedEntry[] = [];
  const logger = winston.createLogger({ level: 'silly', transports: [new ArrayTransport(entries)] });
  return { logger, entries };
}
