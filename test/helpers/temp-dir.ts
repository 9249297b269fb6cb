import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** Creates a fresh folder under the system temp dir; call the returned function to remove it. */
export async function makeTempDir(prefix = 'exo-test-'): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => fs.rm(dir, { recursive: true, force: true }) };
}

/** Lists every file below `root`, as paths relative to it, sorted. */
export async function listFiles(root: string): Promise<string[]> {
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)))
    .sort();
}
