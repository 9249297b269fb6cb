import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** Suffix of files being written; a crash can leave them behind, and cleanStaleTempFiles removes them. */
export const TEMP_SUFFIX = '.tmp';

/**
 * Returns a temporary file name for `target` in the same folder. The name
 * starts with the writer's process id, so a cleanup can tell a file of a live
 * process from one left by a crash.
 */
export function tempNameFor(target: string): string {
  const unique = randomBytes(6).toString('hex');
  return path.join(path.dirname(target), `.${process.pid}-${unique}-${path.basename(target)}${TEMP_SUFFIX}`);
}

/**
 * Writes `data` to `target` so that a reader or a crash finds either the old
 * file or the new one, never a mix: write a temporary file, fsync it, rename it
 * over the target, then fsync the folder so the rename itself survives a power cut.
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  const temp = tempNameFor(target);
  const handle = await fs.open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }

  try {
    await fs.rename(temp, target);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  await syncFolder(path.dirname(target));
}

/** Flushes a folder's entries to disk. Some platforms (Windows) cannot open a folder for that, which is ignored. */
async function syncFolder(folder: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(folder, 'r');
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES') throw error;
  } finally {
    await handle?.close();
  }
}

/** Returns true while a process with this id runs (or belongs to another user, which still means it runs). */
function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temporary files in `folder` that a crashed writer left: those
 * ending in `suffix` whose process is gone, or that are older than `maxAgeMs`.
 * Returns the names removed.
 */
export async function cleanStaleTempFiles(folder: string, suffix: string, maxAgeMs: number, nowMs: number): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }

  const removed: string[] = [];
  for (const name of names) {
    if (!name.endsWith(suffix)) continue;
    const file = path.join(folder, name);
    const pid = Number(/^\.?(\d+)-/.exec(name)?.[1]);
    const stats = await fs.lstat(file).catch(() => undefined);
    if (stats === undefined || !stats.isFile()) continue;

    const writerGone = !Number.isSafeInteger(pid) || pid <= 0 || (pid !== process.pid && !isProcessAlive(pid));
    if (writerGone || nowMs - stats.mtimeMs > maxAgeMs) {
      await fs.rm(file, { force: true });
      removed.push(name);
    }
  }
  return removed;
}
