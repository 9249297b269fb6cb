import { errorCode } from '../../errors.js';
import type { FailureFacts } from '../backoff.js';
import type { UploadStep } from '../outbox/types.js';

/** Failure of one step of an upload attempt. Decisions use `code` and `status`, never `message`. */
export interface UploadFailure extends FailureFacts {
  step: UploadStep;
  /** Text for logs and the outbox. It never contains a presigned URL's query. */
  message: string;
  /** From the server's `Retry-After`, in milliseconds. */
  retryAfterMs?: number;
  /** `maxSize` named in a presign rejection (400 or 413), so the payload can be cut to it. */
  maxSize?: number;
}

/** Thrown inside an attempt to end it with a failure; the engine turns it back into an UploadFailure. */
export class UploadStepError extends Error {
  constructor(readonly failure: UploadFailure) {
    super(failure.message);
    this.name = 'UploadStepError';
  }
}

/** Codes that the engine sets on an AbortSignal's reason, so an aborted request records why it was aborted. */
export const TIMEOUT_CODE = 'ERR_TELEMETRY_TIMEOUT';
export const SHUTDOWN_CODE = 'ERR_TELEMETRY_SHUTDOWN';

/** Returns a failure for an error thrown while a step ran, with a message that is safe to log. */
export function failureFromError(step: UploadStep, error: unknown, signal?: AbortSignal): UploadFailure {
  if (error instanceof UploadStepError) return error.failure;

  // An abort makes axios and piscina throw their own cancel errors, so the signal's reason is what distinguishes a timeout from a shutdown.
  if (signal?.aborted === true) {
    const reasonCode = errorCode(signal.reason);
    if (reasonCode === TIMEOUT_CODE || reasonCode === SHUTDOWN_CODE) {
      return { step, code: reasonCode, message: (signal.reason as Error).message };
    }
  }

  const code = errorCode(error) ?? errorCode((error as { cause?: unknown } | undefined)?.cause);
  const message = error instanceof Error ? error.message : String(error);
  return { step, code, message: message.slice(0, 300) };
}
