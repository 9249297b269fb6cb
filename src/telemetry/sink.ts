import type { RingProducer } from '../channel/ring.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { encodeSubmissionInto } from './submission-codec.js';
import type { Submission } from './submission.js';

/**
 * The main thread's entry point to telemetry. The runner-end hook hands each
 * submission to `submit`, which encodes it straight into a ring slot and
 * returns. Telemetry must never block, throw into or slow down supervision, so
 * `submit` never awaits and never throws. A submission that cannot go in is
 * dropped and counted in the ring's shared counters.
 *
 * Drops because the ring is full are logged the OpenTelemetry way: the first of
 * a run at debug, then one warning with the run's total once the ring accepts
 * again, or at close.
 */
export class TelemetrySink {
  /** Drops because the ring was full since the last warning; 0 while the ring accepts. */
  private droppedFullSinceWarning = 0;
  private loggedDropAfterClose = false;
  /** The submission being encoded, read by encodePending. */
  private pending: Submission | undefined;
  /** Error thrown by encodeSubmissionInto for `pending`, kept for the warning. */
  private encodeError: unknown;
  private readonly encodePending = (slot: Uint8Array, view: DataView): number => {
    try {
      return encodeSubmissionInto(this.pending!, slot, view);
    } catch (error) {
      this.encodeError = error;
      throw error;
    }
  };

  constructor(
    private readonly producer: RingProducer,
    private readonly logger: Logger,
  ) {}

  /**
   * Puts `submission` into the ring for the uploader thread. Returns true when
   * it went in, false when it was dropped (ring full, producer closed) or
   * rejected (too large or invalid). Never throws.
   */
  submit(submission: Submission): boolean {
    try {
      this.pending = submission;
      this.encodeError = undefined;
      const status = this.producer.trySendWith(this.encodePending);
      this.pending = undefined;

      switch (status) {
        case 'sent':
          if (this.droppedFullSinceWarning > 0) this.warnDroppedFull();
          return true;
        case 'full':
          this.noteDroppedFull(submission);
          return false;
        case 'too-large':
          this.log('warn', `telemetry submission rejected: larger than the ${this.producer.maxRecordBytes}-byte record limit once encoded`, {
            ...idsOf(submission),
            logPathLength: submission.logPath.length,
          });
          return false;
        case 'invalid':
          this.log('warn', 'telemetry submission rejected: it could not be encoded', {
            ...idsOf(submission),
            error: describeError(this.encodeError),
          });
          return false;
        case 'closed':
          this.noteDroppedAfterClose(submission);
          return false;
      }
    } catch (error) {
      this.pending = undefined;
      this.logFailure(submission, error);
      return false;
    }
  }

  /**
   * Closes the ring so the uploader thread drains what is left and ends. Later
   * submissions are dropped and counted as droppedClosed. Idempotent.
   */
  close(): void {
    try {
      if (this.droppedFullSinceWarning > 0) this.warnDroppedFull();
      this.producer.close();
    } catch (error) {
      this.logFailure(undefined, error);
    }
  }

  private noteDroppedFull(submission: Submission): void {
    if (this.droppedFullSinceWarning === 0) {
      this.log('debug', 'telemetry channel full, dropping submissions until the uploader catches up', {
        ...idsOf(submission),
        capacity: this.producer.capacity,
      });
    }
    this.droppedFullSinceWarning += 1;
  }

  private warnDroppedFull(): void {
    const dropped = this.droppedFullSinceWarning;
    this.droppedFullSinceWarning = 0;
    this.log('warn', `dropped ${dropped} telemetry submissions because the channel was full`, {
      dropped,
      capacity: this.producer.capacity,
    });
  }

  private noteDroppedAfterClose(submission: Submission): void {
    if (this.loggedDropAfterClose) return;
    this.loggedDropAfterClose = true;
    this.log('debug', 'telemetry sink closed, dropping submissions', idsOf(submission));
  }

  private logFailure(submission: Submission | undefined, error: unknown): void {
    this.log('warn', 'telemetry submission failed', { ...idsOf(submission), error: describeError(error) });
  }

  /** Logs an entry and ignores a throwing logger, because nothing may reach the caller of submit. */
  private log(level: 'debug' | 'warn', message: string, meta: Record<string, unknown>): void {
    try {
      this.logger.log(level, message, meta);
    } catch {
      // The logger itself failed, so there is nowhere left to report it.
    }
  }
}

/** Returns the ids of a submission for a log entry, or nothing for a value that is not one. */
function idsOf(submission: Submission | undefined): { instanceId?: unknown; runnerId?: unknown } {
  if (typeof submission !== 'object' || submission === null) return {};
  return { instanceId: submission.instanceId, runnerId: submission.runnerId };
}
