import type { StderrReport } from '../diagnostics/types.js';

/** Everything known about one runner start once it has ended and its stderr log is closed. */
export interface RunnerEnd {
  instanceId: string;
  runnerId: string;
  /** The stderr log of this start, complete and closed. */
  logPath: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The process could not be started at all, such as a command that was not found. */
  spawnError: string | null;
  /** The node asked the runner to stop (shutdown or a failed instance), so the end is expected. */
  stopRequested: boolean;
  report: StderrReport;
  /** For a person, such as "signal 6 (SIGABRT) after a Metal GPU timeout". */
  primaryCause: string;
  startedAtMs: number;
  endedAtMs: number;
}

/**
 * Called once for every runner end, clean or not. It must not throw and must not
 * wait: telemetry plugs in here, and supervision never waits on telemetry.
 */
export type RunnerEndHook = (end: RunnerEnd) => void;
