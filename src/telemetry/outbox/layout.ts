import path from 'node:path';

/** Folder under the log dir with the telemetry state: the outbox, run counters and temporary payloads. */
export const TELEMETRY_FOLDER = 'telemetry';

/** Returns `<logDir>/telemetry`. */
export function telemetryDir(logDir: string): string {
  return path.join(logDir, TELEMETRY_FOLDER);
}

/** Returns `<logDir>/telemetry/outbox`, one JSON file per report. */
export function outboxDir(logDir: string): string {
  return path.join(logDir, TELEMETRY_FOLDER, 'outbox');
}

/** Returns `<logDir>/telemetry/tmp`, where redacted payload copies live while a report is uploaded. */
export function payloadTempDir(logDir: string): string {
  return path.join(logDir, TELEMETRY_FOLDER, 'tmp');
}

/** Returns `<logDir>/telemetry/last-run.json`, the counters of the last run of the uploader. */
export function runStatsFile(logDir: string): string {
  return path.join(logDir, TELEMETRY_FOLDER, 'last-run.json');
}
