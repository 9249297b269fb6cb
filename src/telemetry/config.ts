/** Telemetry settings of a node, resolved from flags and the environment. */
export interface TelemetryConfig {
  /** `upload` only with `--telemetry` and no DO_NOT_TRACK; otherwise the service logs what it would send. */
  mode: 'upload' | 'dry-run';
  /** API base without a trailing slash. */
  apiUrl: string;
  /** Records the submission ring holds. */
  channelCapacity: number;
  /** Timeout of each HTTP request. */
  timeoutMs: number;
  /** How long shutdown gives the uploader to finish; what is left stays in the outbox. */
  drainTimeoutMs: number;
  /** Redact secrets, home paths, addresses and names before hashing and upload. */
  redact: boolean;
  /** Attempts per report in one run of the node; a report past it stays pending. */
  maxAttemptsPerReport: number;
  /** Stderr logs kept per runner; logs whose report is still pending are never deleted. */
  runnerLogKeep: number;
}

export const DEFAULT_CHANNEL_CAPACITY = 64;
export const DEFAULT_TELEMETRY_TIMEOUT_SECONDS = 10;
export const DEFAULT_DRAIN_TIMEOUT_SECONDS = 5;
export const DEFAULT_MAX_ATTEMPTS_PER_REPORT = 5;
export const DEFAULT_RUNNER_LOG_KEEP = 20;

/**
 * Returns true when DO_NOT_TRACK requests no tracking: set to anything but
 * empty, `0` or `false` (any case), as the Console Do Not Track convention reads it.
 */
export function doNotTrack(env: NodeJS.ProcessEnv): boolean {
  const value = env.DO_NOT_TRACK;
  if (value === undefined) return false;
  const normalized = value.trim().toLowerCase();
  return normalized !== '' && normalized !== '0' && normalized !== 'false';
}
