import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Folders made by makeTempDir and not removed yet; removed at exit, whatever ended the run. */
const liveDirs = new Set<string>();
let exitHooksInstalled = false;

/** Removes every temporary folder left, synchronously, because it runs from the 'exit' event. */
function removeLiveDirs(): void {
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
  liveDirs.clear();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.once('exit', removeLiveDirs);
  // A benchmark stopped with Ctrl-C must not leave gigabytes of logs in /tmp.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      removeLiveDirs();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

/** A fresh folder under os.tmpdir() and the idempotent function that removes it. */
export interface TempDir {
  path: string;
  remove(): void;
}

/**
 * Creates a fresh folder under os.tmpdir(). It is removed by `remove`, or at exit at the latest.
 * NOTE: a process killed by SIGKILL or a fatal V8 error runs no exit hook, so its
 * `exo-bench-*` folders stay behind.
 */
export function makeTempDir(prefix: string): TempDir {
  installExitHooks();
  const dir = mkdtempSync(path.join(os.tmpdir(), `exo-bench-${prefix}-`));
  liveDirs.add(dir);
  return {
    path: dir,
    remove: () => {
      if (!liveDirs.delete(dir)) return;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
