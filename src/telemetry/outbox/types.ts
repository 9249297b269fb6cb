/**
 * State of a report:
 * - `pending`: not delivered yet; retried on a later attempt, start or manual upload;
 * - `delivered`: the PUT returned 2xx; never sent again;
 * - `rejected`: the server or the path check refused it for good; never sent again;
 * - `gone`: the log was deleted before it could be sent;
 * - `skipped`: nothing to send, such as an empty log;
 * - `dry-run`: telemetry was off, so the payload was only logged.
 */
export type ReportState = 'pending' | 'delivered' | 'rejected' | 'gone' | 'skipped' | 'dry-run';

/** States after which the uploader never sends the report again. */
export const FINAL_STATES: ReadonlySet<ReportState> = new Set(['delivered', 'rejected']);

/** Step of an upload where a failure happened, as it appears in logs and in `lastError`. */
export type UploadStep = 'path' | 'stat' | 'redact' | 'hash' | 'presign' | 'put';

/** Facts about the runner's end, copied from the submission so a report can be retried after a restart. */
export interface ReportFacts {
  instanceId: string;
  runnerId: string;
  exitCode: number | null;
  signal: string | null;
  diagnosticKinds: string[];
  primaryCause: string;
  /** When the runner ended, in milliseconds since the Unix epoch. */
  endedAtMs: number;
}

/** Facts about the payload that was (or would be) uploaded. */
export interface PayloadFacts {
  size: number;
  sha256: string;
  /** Size of the local log, before redaction and truncation. */
  originalSize: number;
  /** True when only the last `maxSize` bytes were sent. */
  truncated: boolean;
  redacted: boolean;
  /** Replacements per kind, such as `{ email: 2 }`. Empty when redaction is off. */
  redactionCounts: Record<string, number>;
}

export interface LastError {
  step: UploadStep;
  code?: string;
  status?: number;
  message: string;
  atMs: number;
}

/** One report in the outbox, stored as `<logDir>/telemetry/outbox/<id with / as +>.json`. */
export interface OutboxEntry {
  /** Log path relative to `<logDir>/runner_log`, such as `llama-8b/r0/2026-05-28_14-03-07_123456Z.stderr.log`. */
  id: string;
  state: ReportState;
  /** Absolute path of the log when the report was recorded. */
  logPath: string;
  createdAtMs: number;
  updatedAtMs: number;
  /** Network attempts (presign and PUT) over every run. */
  attempts: number;
  lastError?: LastError;
  /** Reason the report is rejected, gone or skipped. */
  reason?: string;
  /** Store key returned by the presign, set once delivered. */
  key?: string;
  deliveredAtMs?: number;
  report: ReportFacts;
  payload?: PayloadFacts;
}

/** Read access to report states, for retention and the CLI. */
export interface OutboxReader {
  read(id: string): Promise<OutboxEntry | undefined>;
}
