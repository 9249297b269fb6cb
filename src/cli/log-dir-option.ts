import path from 'node:path';

import type { Argv } from 'yargs';

import { defaultLogDir } from '../node/log-dir.js';

export interface LogDirArgs {
  logDir: string | undefined;
}

/** Adds `--log-dir` with the same default and help as the node command. */
export function withLogDirOption<T>(argv: Argv<T>): Argv<T & LogDirArgs> {
  return argv.option('log-dir', {
    type: 'string',
    describe: 'Log dir of the node whose reports to use [default: $EXO_HOME, else $XDG_CACHE_HOME/exo/exo_log on Linux (~/.cache/exo/exo_log), else ~/.exo/exo_log]',
  }) as unknown as Argv<T & LogDirArgs>;
}

/** Returns the absolute log dir from `--log-dir` or the default. */
export function logDirFrom(args: LogDirArgs): string {
  return path.resolve(args.logDir ?? defaultLogDir());
}
