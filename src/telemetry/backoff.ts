/**
 * When to try an upload again. Pure functions: the caller owns the timer, the
 * clock and the random source, so each rule is tested without sockets or sleeps.
 */

export interface BackoffPolicy {
  /** Upper bound of the first retry's delay, in milliseconds. */
  baseDelayMs: number;
  /** Growth of the upper bound per retry. */
  factor: number;
  /** Largest delay the exponential part may reach, in milliseconds. */
  maxDelayMs: number;
  /** Largest `Retry-After` honored, in milliseconds. A longer one is shortened to this. */
  maxRetryAfterMs: number;
}

export const DEFAULT_BACKOFF_POLICY: Readonly<BackoffPolicy> = Object.freeze({
  baseDelayMs: 1_000,
  factor: 2,
  maxDelayMs: 60_000,
  maxRetryAfterMs: 120_000,
});

/**
 * Returns the delay before retry number `attempt` (1 for the first retry).
 *
 * Without `retryAfterMs`: full jitter, a uniform draw in
 * [0, min(maxDelayMs, baseDelayMs * factor^(attempt - 1))), which spreads the
 * retries of many nodes after a shared outage. With `retryAfterMs` (from the
 * server's `Retry-After`): that delay, capped at maxRetryAfterMs, because the
 * server named the time it can take the request again.
 */
export function retryDelayMs(attempt: number, policy: BackoffPolicy, random: () => number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs)) {
    return Math.min(Math.max(0, retryAfterMs), policy.maxRetryAfterMs);
  }

  const exponent = Math.max(0, Math.floor(attempt) - 1);
  const ceilingMs = Math.min(policy.maxDelayMs, policy.baseDelayMs * policy.factor ** exponent);
  const draw = Math.min(Math.max(random(), 0), 1);
  return Math.floor(draw * ceilingMs);
}

/**
 * Parses a `Retry-After` header, either delta-seconds (`120`) or an HTTP-date
 * (`Wed, 21 Oct 2026 07:28:00 GMT`), into milliseconds from `nowMs`. Returns
 * undefined for a missing or unreadable value, and 0 for a date in the past.
 */
export function parseRetryAfter(header: string | undefined, nowMs: number): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value === '') return undefined;

  if (/^\d+$/.test(value)) {
    const seconds = Number(value);
    return Number.isSafeInteger(seconds) ? seconds * 1000 : undefined;
  }

  // Date.parse accepts many forms; the HTTP-date forms all name a weekday or a month, and contain letters.
  if (!/[A-Za-z]/.test(value)) return undefined;
  const atMs = Date.parse(value);
  if (Number.isNaN(atMs)) return undefined;
  return Math.max(0, atMs - nowMs);
}

/** Facts of a failed step that a retry decision uses. */
export interface FailureFacts {
  /** Error code: a Node.js network code (`ECONNREFUSED`), an axios code, or an ExoError code. */
  code?: string;
  /** HTTP status, when the server responded. */
  status?: number;
}

/** HTTP statuses that mean "try again later": the request itself was fine. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/** Codes of network failures and timeouts, where the server never judged the request. */
export const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'ERR_NETWORK',
  'ERR_BAD_RESPONSE',
  'ERR_TELEMETRY_TIMEOUT',
  'ERR_INVALID_PRESIGN_RESPONSE',
  'ERR_PAYLOAD_CHANGED',
]);

/**
 * Returns whether a failure may succeed on a later attempt. Retryable are
 * network errors and timeouts, a response that is cut off, too large or invalid
 * (most often a proxy or captive portal in between), a payload that changed
 * while it was sent, and the statuses in RETRYABLE_STATUSES.
 *
 * A status other than 2xx decides when there is one, so every other status, 4xx
 * above all, is not retried. A 2xx whose body could not be used is decided on the code.
 */
export function isRetryable(failure: FailureFacts): boolean {
  const status = failure.status;
  if (status !== undefined && (status < 200 || status > 299)) return RETRYABLE_STATUSES.has(status);
  return failure.code !== undefined && RETRYABLE_CODES.has(failure.code);
}
