import type { ChildProcess } from 'node:child_process';

/**
 * Sends `signal` to the runner's process group, falling back to the process alone.
 * Runners are spawned detached, in a group of their own, so helpers they started
 * (and that may hold stderr open) stop with them.
 */
export function signalRunner(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group may be gone already, or the platform has no process groups.
    try {
      child.kill(signal);
    } catch {
      // The process ended between the check and the signal: nothing left to stop.
    }
  }
}
