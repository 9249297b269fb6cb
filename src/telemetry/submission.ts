/**
 * Record of a runner end that the hook hands to telemetry and that crosses the
 * ring buffer from the main thread to the uploader thread. It carries a path and facts, never
 * the log's contents: the uploader thread reads the file itself.
 */
export interface RunnerStderrSubmission {
  kind: 'runner-stderr';
  /** Absolute path of the stderr log. Its stream was closed before submission. */
  logPath: string;
  instanceId: string;
  runnerId: string;
  exitCode: number | null;
  signal: string | null;
  /** Stable diagnostic kinds found in the log, such as `metal.gpu_timeout`. */
  diagnosticKinds: string[];
  /** The runner's end described for a person, such as "signal 6 (SIGABRT) after a Metal GPU timeout". */
  primaryCause: string;
  /** When the runner ended, in milliseconds since the Unix epoch. */
  endedAtMs: number;
}

export type Submission = RunnerStderrSubmission;

/**
 * Returns a submission for a log whose runner end is unknown, such as a log
 * from before telemetry was turned on: no exit status, diagnostics or cause.
 */
export function submissionForUnknownEnd(ids: { instanceId: string; runnerId: string }, logPath: string, endedAtMs: number): Submission {
  return {
    kind: 'runner-stderr',
    logPath,
    instanceId: ids.instanceId,
    runnerId: ids.runnerId,
    exitCode: null,
    signal: null,
    diagnosticKinds: [],
    primaryCause: '',
    endedAtMs,
  };
}
