/**
 * What the runner-end hook hands to telemetry, and what crosses the ring buffer
 * from the main thread to the uploader thread. It carries a path and facts, never
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
