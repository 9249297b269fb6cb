import path from 'node:path';

import { ExoError } from '../../errors.js';
import { isValidId, RUNNER_LOG_FOLDER, STDERR_LOG_SUFFIX } from '../../node/log-dir.js';

/**
 * Stands for `/` in outbox file names. Ids and log file names never contain it
 * (ids match `[A-Za-z0-9._-]`), so the mapping can be reversed.
 */
const SEPARATOR_IN_FILE_NAME = '+';
const ENTRY_SUFFIX = '.json';
const LOG_FILE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The three parts of a report id. */
export interface ReportIdParts {
  instanceId: string;
  runnerId: string;
  fileName: string;
}

/**
 * Returns the report id of a runner log: its path relative to
 * `<logDir>/runner_log`, with `/` separators, such as
 * `llama-8b/r0/2026-05-28_14-03-07_123456Z.stderr.log`.
 *
 * Throws ExoError ERR_UNSAFE_LOG_PATH unless `logPath` is absolute, has no `..`
 * segment, lies inside `<logDir>/runner_log`, and has exactly the layout
 * `<instanceId>/<runnerId>/<name>.stderr.log` with valid ids. This checks the
 * text only; symlinks are checked when the file is opened.
 */
export function reportIdFor(logDir: string, logPath: string): string {
  const fail = (reason: string): never => {
    throw new ExoError(
      'ERR_UNSAFE_LOG_PATH',
      `log path ${JSON.stringify(logPath)} is not a runner log: ${reason}; only files under ${path.join(logDir, RUNNER_LOG_FOLDER)} named <instance>/<runner>/<time>${STDERR_LOG_SUFFIX} are uploaded`,
    );
  };

  if (typeof logPath !== 'string' || !path.isAbsolute(logPath)) return fail('it is not an absolute path');
  if (logPath.includes('\0')) return fail('it contains a NUL byte');
  if (logPath.split(/[\\/]/).includes('..')) return fail('it contains a .. segment');

  const root = path.resolve(logDir, RUNNER_LOG_FOLDER);
  const relative = path.relative(root, path.resolve(logPath));
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) return fail('it is outside the runner log folder');

  const segments = relative.split(path.sep);
  if (segments.length !== 3) return fail('it is not <instance>/<runner>/<file> below the runner log folder');
  const [instanceId, runnerId, fileName] = segments;
  if (!isValidId(instanceId) || !isValidId(runnerId)) return fail('its instance or runner folder is not a valid id');
  if (!LOG_FILE_NAME_PATTERN.test(fileName) || !fileName.endsWith(STDERR_LOG_SUFFIX)) {
    return fail(`its file name does not end with ${STDERR_LOG_SUFFIX}`);
  }

  return segments.join('/');
}

/** Splits a report id into its instance id, runner id and file name, or returns undefined when it is malformed. */
export function parseReportId(id: string): ReportIdParts | undefined {
  const segments = id.split('/');
  if (segments.length !== 3) return undefined;
  const [instanceId, runnerId, fileName] = segments;
  if (!isValidId(instanceId) || !isValidId(runnerId)) return undefined;
  if (!LOG_FILE_NAME_PATTERN.test(fileName) || !fileName.endsWith(STDERR_LOG_SUFFIX)) return undefined;
  return { instanceId, runnerId, fileName };
}

/** Returns the absolute log path of a report id. */
export function logPathForReportId(logDir: string, id: string): string {
  return path.join(logDir, RUNNER_LOG_FOLDER, ...id.split('/'));
}

/** Returns the outbox file name of a report id. */
export function entryFileName(id: string): string {
  return id.split('/').join(SEPARATOR_IN_FILE_NAME) + ENTRY_SUFFIX;
}

/** Returns the report id stored in an outbox file name, or undefined for any other file. */
export function reportIdFromEntryFileName(fileName: string): string | undefined {
  if (!fileName.endsWith(ENTRY_SUFFIX)) return undefined;
  const id = fileName.slice(0, -ENTRY_SUFFIX.length).split(SEPARATOR_IN_FILE_NAME).join('/');
  return parseReportId(id) === undefined ? undefined : id;
}
