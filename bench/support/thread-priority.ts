import { readdirSync } from 'node:fs';
import os from 'node:os';

/** Returns the ids of this process's threads (Linux: /proc/self/task), or an empty set elsewhere. */
export function listThreadIds(): Set<number> {
  try {
    return new Set(readdirSync('/proc/self/task').map(Number));
  } catch {
    return new Set();
  }
}

/**
 * Sets the nice value of every thread of this process that is not in `before`,
 * such as the uploader and hash threads a TelemetryService started meanwhile.
 * On Linux the nice value belongs to each thread, so the main thread keeps its
 * own. Returns how many threads were changed.
 *
 * This is an experiment of the benchmarks: it shows what a lower priority of
 * the telemetry threads would change on a machine with few cores.
 */
export function reniceNewThreads(before: Set<number>, nice: number): number {
  let changed = 0;
  for (const threadId of listThreadIds()) {
    if (before.has(threadId)) continue;
    try {
      os.setPriority(threadId, nice);
      changed += 1;
    } catch {
      // The thread ended in between.
    }
  }
  return changed;
}
