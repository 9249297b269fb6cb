import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { UsageError } from '../errors.js';

/**
 * Instance and runner ids come from instance files and APIs, and each one
 * becomes a path segment. The pattern excludes `/`, `\`, control characters and
 * a leading dot, so `.` and `..` cannot match and no id can leave the log dir.
 */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const RUNNER_LOG_FOLDER = 'runner_log';
export const NODE_LOG_FILE = 'exo.log';
export const STDERR_LOG_SUFFIX = '.stderr.log';

export interface LogDirEnvironment {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  homeDir: string;
}

/**
 * Returns the log dir that exo itself uses: `$EXO_HOME` when set, else on Linux
 * `$XDG_CACHE_HOME/exo/exo_log` (default `~/.cache/exo/exo_log`), else `~/.exo/exo_log`.
 */
export function defaultLogDir(
  where: LogDirEnvironment = { env: process.env, platform: process.platform, homeDir: os.homedir() },
): string {
  const exoHome = where.env.EXO_HOME;
  if (exoHome !== undefined && exoHome !== '') {
    return path.resolve(exoHome);
  }
  if (where.platform === 'linux') {
    const xdgCache = where.env.XDG_CACHE_HOME;
    const cacheHome = xdgCache !== undefined && path.isAbsolute(xdgCache) ? xdgCache : path.join(where.homeDir, '.cache');
    return path.join(cacheHome, 'exo', 'exo_log');
  }
  return path.join(where.homeDir, '.exo', 'exo_log');
}

/** Returns true when `value` can be used as an instance or runner id. */
export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

/** Throws a UsageError naming the id and the rule unless `value` is a valid id. */
export function assertValidId(value: unknown, what: string): asserts value is string {
  if (!isValidId(value)) {
    throw new UsageError(
      'ERR_INVALID_ID',
      `invalid ${what} ${JSON.stringify(value)}: expected 1 to 128 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit`,
    );
  }
}

/** Returns the folder holding every stderr log of one runner. */
export function runnerLogFolder(logDir: string, instanceId: string, runnerId: string): string {
  assertValidId(instanceId, 'instance id');
  assertValidId(runnerId, 'runner id');
  return path.join(logDir, RUNNER_LOG_FOLDER, instanceId, runnerId);
}

/**
 * Formats a start time as `2026-05-28_14-03-07_123456Z`: UTC, sortable as text.
 * `subMillisecond` adds the microseconds that a Date cannot carry (0 to 999).
 */
export function formatLogTimestamp(date: Date, subMillisecond = 0): string {
  const pad = (value: number, width: number) => String(value).padStart(width, '0');
  const day = `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)}`;
  const time = `${pad(date.getUTCHours(), 2)}-${pad(date.getUTCMinutes(), 2)}-${pad(date.getUTCSeconds(), 2)}`;
  const micros = date.getUTCMilliseconds() * 1000 + Math.min(999, Math.max(0, Math.trunc(subMillisecond)));
  return `${day}_${time}_${pad(micros, 6)}Z`;
}

/** Matches the file name of a runner stderr log and captures its timestamp. */
export const STDERR_LOG_NAME_PATTERN = /^(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_\d{6}Z)(?:-\d+)?\.stderr\.log$/;

/**
 * Creates the log dir when needed and checks that the node can write there,
 * so a bad `--log-dir` exits 2 at start instead of failing every runner start.
 */
export async function prepareLogDir(dir: string): Promise<string> {
  if (dir.trim() === '') {
    throw new UsageError('ERR_INVALID_LOG_DIR', 'invalid --log-dir "": expected a folder path; leave the option out to use the default');
  }
  const resolved = path.resolve(dir);
  try {
    await fs.mkdir(resolved, { recursive: true });
    await fs.access(resolved, fs.constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new UsageError(
      'ERR_INVALID_LOG_DIR',
      `cannot use --log-dir ${resolved}: ${code === 'ENOTDIR' || code === 'EEXIST' ? 'a file is in the way' : code}; pass a folder the node can create and write`,
    );
  }
  return resolved;
}
