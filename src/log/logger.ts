import path from 'node:path';

import winston from 'winston';

export type LogFormat = 'human' | 'json';

export interface LoggerOptions {
  /** -1 with `--quiet`, 0 by default, 1 per `-v`. */
  verbosity: number;
  format: LogFormat;
  /** Node log file (`exo.log`), written as JSON lines at debug level whatever the console shows. */
  file?: string;
  /** Added to every entry, such as `{ thread: 'uploader' }`. */
  defaultMeta?: Record<string, unknown>;
  /** Destination of console lines. Tests pass a stream to read them back. */
  consoleStream?: NodeJS.WritableStream;
}

export type Logger = winston.Logger;

/** Returns the console level for a verbosity: quiet shows errors, -v debug, -vv everything. */
export function consoleLevel(verbosity: number): string {
  if (verbosity < 0) return 'error';
  if (verbosity === 0) return 'info';
  if (verbosity === 1) return 'debug';
  return 'silly';
}

/** Renders the fields of an entry other than level, message and timestamp as `key=value`. */
function formatFields(info: winston.Logform.TransformableInfo): string {
  const skip = new Set(['level', 'message', 'timestamp', 'stack']);
  const parts: string[] = [];
  for (const [key, value] of Object.entries(info)) {
    if (skip.has(key) || typeof key === 'symbol') continue;
    const text = typeof value === 'string' && /^[\w./:@+-]*$/.test(value) && value !== '' ? value : JSON.stringify(value);
    parts.push(`${key}=${text}`);
  }
  return parts.length === 0 ? '' : ` ${parts.join(' ')}`;
}

const humanFormat = winston.format.combine(
  winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
  winston.format.printf((info) => {
    const stack = typeof info.stack === 'string' ? `\n${info.stack}` : '';
    return `${String(info.timestamp)} ${info.level.padEnd(5)} ${String(info.message)}${formatFields(info)}${stack}`;
  }),
);

const jsonFormat = winston.format.combine(winston.format.timestamp(), winston.format.json());

/** Creates the logger of a node, a collector or an uploader thread. */
export function createLogger(options: LoggerOptions): Logger {
  const transports: winston.transport[] = [
    new winston.transports.Stream({
      stream: options.consoleStream ?? process.stderr,
      level: consoleLevel(options.verbosity),
      format: options.format === 'json' ? jsonFormat : humanFormat,
    }),
  ];
  if (options.file !== undefined) {
    transports.push(
      new winston.transports.File({
        filename: options.file,
        dirname: path.dirname(options.file),
        level: 'debug',
        format: jsonFormat,
      }),
    );
  }
  return winston.createLogger({
    level: 'silly',
    defaultMeta: options.defaultMeta,
    transports,
    exitOnError: false,
  });
}

/** Waits until every transport has written what it was given, for a clean exit. */
export async function closeLogger(logger: Logger, timeoutMs = 2000): Promise<void> {
  const finished = new Promise<void>((resolve) => {
    logger.on('finish', () => resolve());
    logger.end();
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
    timer.unref();
  });
  await Promise.race([finished, timedOut]);
  clearTimeout(timer);
}
