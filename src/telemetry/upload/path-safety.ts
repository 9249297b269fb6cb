import { constants as fsConstants, type Stats } from 'node:fs';
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { ExoError } from '../../errors.js';
import { RUNNER_LOG_FOLDER } from '../../node/log-dir.js';

export const UNSAFE_LOG_PATH_CODE = 'ERR_UNSAFE_LOG_PATH';
export const LOG_GONE_CODE = 'ERR_LOG_GONE';

/** A runner log opened for upload, and what it was when opened. */
export interface OpenedLog {
  id: string;
  /** `<logDir>/runner_log/<id>`, built from the id rather than taken from the submission. */
  path: string;
  handle: fs.FileHandle;
  stats: Stats;
}

// O_NOFOLLOW is missing on Windows, where the lstat walk below is the only guard.
const OPEN_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0);

function unsafe(id: string, reason: string): ExoError {
  return new ExoError(UNSAFE_LOG_PATH_CODE, `runner log ${id} not read: ${reason}; the uploader reads only regular files below the runner log folder, without following symlinks`);
}

function gone(id: string, cause: unknown): ExoError {
  return new ExoError(LOG_GONE_CODE, `runner log ${id} no longer exists`, { cause });
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Checks, with lstat, that no component below `<logDir>/runner_log` on the way
 * to the log is a symlink, and that the log is a regular file. Returns the
 * log's lstat. Throws ExoError ERR_UNSAFE_LOG_PATH or ERR_LOG_GONE.
 * The runner log folder itself and the folders above it may be symlinks: the
 * operator chose them.
 */
export async function checkLogPath(logDir: string, id: string): Promise<Stats> {
  const segments = id.split('/');
  let current = path.join(logDir, RUNNER_LOG_FOLDER);
  let stats: Stats | undefined;
  for (const [index, segment] of segments.entries()) {
    current = path.join(current, segment);
    try {
      stats = await fs.lstat(current);
    } catch (error) {
      if (isMissing(error)) throw gone(id, error);
      throw error;
    }
    if (stats.isSymbolicLink()) throw unsafe(id, `${current} is a symlink`);
    const last = index === segments.length - 1;
    if (!last && !stats.isDirectory()) throw unsafe(id, `${current} is not a folder`);
    if (last && !stats.isFile()) throw unsafe(id, `${current} is not a regular file`);
  }
  if (stats === undefined) throw unsafe(id, 'the id is empty');
  return stats;
}

/**
 * Opens a runner log by report id, refusing symlinks on the way (checkLogPath)
 * and at the end (O_NOFOLLOW), and refusing a file swapped between the check
 * and the open (device and inode must match).
 */
export async function openRunnerLog(logDir: string, id: string): Promise<OpenedLog> {
  const checked = await checkLogPath(logDir, id);
  const logPath = path.join(logDir, RUNNER_LOG_FOLDER, ...id.split('/'));

  let handle: fs.FileHandle;
  try {
    handle = await fs.open(logPath, OPEN_FLAGS);
  } catch (error) {
    if (isMissing(error)) throw gone(id, error);
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw unsafe(id, `${logPath} is a symlink`);
    throw error;
  }

  try {
    const stats = await handle.stat();
    if (!stats.isFile() || stats.dev !== checked.dev || stats.ino !== checked.ino) {
      throw unsafe(id, `${logPath} changed while it was opened`);
    }
    return { id, path: logPath, handle, stats };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * Throws ERR_UNSAFE_LOG_PATH (or ERR_LOG_GONE) unless the path of an opened log
 * still leads, without symlinks, to the file that was opened. Called after a
 * step that had to read the log by path (redaction).
 */
export async function assertStillSameLog(logDir: string, opened: OpenedLog): Promise<void> {
  const stats = await checkLogPath(logDir, opened.id);
  if (stats.dev !== opened.stats.dev || stats.ino !== opened.stats.ino) {
    throw unsafe(opened.id, `${opened.path} was replaced while it was read`);
  }
}
