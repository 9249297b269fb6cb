import type { Argv } from 'yargs';

import { createLogger, type LogFormat, type Logger } from '../log/logger.js';

/** Options that every command takes: how much to log and in which format. */
export interface GlobalArgs {
  verbose: number;
  quiet: boolean;
  logFormat: LogFormat;
}

export function withGlobalOptions<T>(argv: Argv<T>): Argv<T & GlobalArgs> {
  return argv
    .option('verbose', {
      alias: 'v',
      type: 'count',
      describe: 'Log more: -v adds debug lines, -vv everything. Errors also show their stack.',
    })
    .option('quiet', {
      alias: 'q',
      type: 'boolean',
      default: false,
      describe: 'Log only errors on the console (the node log file still gets everything).',
    })
    .option('log-format', {
      choices: ['human', 'json'] as const,
      default: 'human' as LogFormat,
      describe: 'Console log format: readable lines, or one JSON object per line.',
    }) as unknown as Argv<T & GlobalArgs>;
}

/** Returns the console verbosity from the global options: -1 quiet, 0 default, 1 and more per -v. */
export function verbosityOf(args: GlobalArgs): number {
  return args.quiet ? -1 : args.verbose;
}

/** Creates the logger of a command from the global options. */
export function loggerFor(args: GlobalArgs, file?: string, defaultMeta?: Record<string, unknown>): Logger {
  return createLogger({ verbosity: verbosityOf(args), format: args.logFormat, file, defaultMeta });
}
