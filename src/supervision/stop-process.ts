import type { ChildProcess } from 'node:child_process';

/**
 * Sends `signal` to the runner's process group, falling back to the process alone.
 * Runners are spawned detached, in a group of their own, so helpers they started
 * (and that may hold stderr open) stop with them. The group is signalled even
 * after the runner itself exited, because its helpers may still run.
 */
export function signalRunner(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  if (signalGroup(child.pid, signal)) return;
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    child.kill(signal);
  } catch {
    // The process ended between the check and the signal: nothing left to stop.
  }
}

/** Sends `signal` to every process of a group; returns false when the group is gone or cannot be signalled. */
export function signalGroup(groupId: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-groupId, signal);
    return true;
  } catch {
    return false;
  }
}

/** Returns true while any process of the group is alive. */
export function groupAlive(groupId: number): boolean {
  return signalGroup(groupId, 0);
}
