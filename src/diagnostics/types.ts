/** One finding in a runner's stderr, such as a Metal GPU timeout or a Python exception. */
export interface Diagnostic {
  /** Stable code, such as `metal.gpu_timeout`. Tests, metadata and dashboards key on it. */
  kind: string;
  /** One sentence for a person, such as "Metal GPU timeout". */
  message: string;
  /** The stderr lines that showed it, each capped in length. */
  evidence: string[];
  /** Values read from the lines, such as `errno`, `type` or `file`. */
  fields: Record<string, string | number | boolean>;
  /** How many consecutive matching lines were folded into this one. */
  count: number;
}

/** Findings of a classifier in one runner's stderr. */
export interface StderrReport {
  diagnostics: Diagnostic[];
  /** The last few non-empty lines, kept as evidence when nothing was classified. */
  lastLines: string[];
  /**
   * Diagnostics left out because the report keeps a bounded number (the first
   * and the latest ones). Absent or 0 when none were left out.
   */
  omittedDiagnostics?: number;
}

/** End status of a runner process. Exactly one of `exitCode` and `signal` is set. */
export interface ExitStatus {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}
