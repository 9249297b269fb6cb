import { isRetryable } from '../backoff.js';
import { SHUTDOWN_CODE, type UploadFailure } from './failure.js';

/**
 * Next step after a failed attempt:
 * - `retry`: try again after a backoff, within the report's attempt budget;
 * - `reject`: the server refused this report for good; mark it rejected;
 * - `hold`: not worth retrying in this run, but not the report's fault; it
 *   stays pending for the next start or a manual upload.
 */
export type Disposition = 'retry' | 'reject' | 'hold';

/**
 * Presign statuses that show the endpoint or its access is wrong (a mistyped
 * API URL, a proxy asking for credentials), not the report. Rejecting every
 * report for them would lose reports that a fixed configuration could deliver.
 */
const ENDPOINT_STATUSES: ReadonlySet<number> = new Set([401, 403, 404, 405, 407]);

const LOCAL_STEPS: ReadonlySet<string> = new Set(['path', 'stat', 'redact', 'hash']);

/** Returns the disposition of a failure, decided on its step, code and HTTP status only. */
export function dispositionOf(failure: UploadFailure): Disposition {
  if (failure.code === SHUTDOWN_CODE) return 'hold';
  // A failure reading or hashing the local file would fail the same way at once; the next start tries again.
  if (LOCAL_STEPS.has(failure.step)) return 'hold';
  if (isRetryable(failure)) return 'retry';
  // A 403 on the PUT is most often an expired or clock-skewed URL: a fresh presign fixes it.
  if (failure.step === 'put' && failure.status === 403) return 'retry';

  const status = failure.status;
  if (status !== undefined && status >= 400 && status <= 499) {
    return failure.step === 'presign' && ENDPOINT_STATUSES.has(status) ? 'hold' : 'reject';
  }
  // Redirects (never followed), other 5xx, an uploadUrl that breaks the transport rule, unknown codes.
  return 'hold';
}
