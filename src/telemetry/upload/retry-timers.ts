/** End of a scheduled retry: its timer fired, or it was cancelled first. */
export type TimerOutcome = 'fired' | 'cancelled';

interface ScheduledRetry {
  handle: ReturnType<typeof setTimeout>;
  dueAtMs: number;
  onOutcome: (outcome: TimerOutcome) => void;
}

/**
 * The retry timers of the uploader, one per report id. Every schedule ends in
 * exactly one outcome, `fired` or `cancelled`, so the caller can always account
 * for the report. After `cancelAll`, a new schedule is cancelled at once.
 *
 * The timers are the global setTimeout, looked up on each use, so tests can
 * drive them with sinon fake timers.
 */
export class RetryTimers {
  private readonly scheduled = new Map<string, ScheduledRetry>();
  private closed = false;

  constructor(private readonly now: () => number = () => Date.now()) {}

  /** Calls `onOutcome('fired')` after `delayMs`, unless cancelled first. A second schedule of the same key cancels the first. */
  schedule(key: string, delayMs: number, onOutcome: (outcome: TimerOutcome) => void): void {
    if (this.closed) {
      onOutcome('cancelled');
      return;
    }
    this.cancel(key);

    const handle = setTimeout(() => {
      this.scheduled.delete(key);
      onOutcome('fired');
    }, Math.max(0, delayMs));
    this.scheduled.set(key, { handle, dueAtMs: this.now() + Math.max(0, delayMs), onOutcome });
  }

  /** Cancels the retry of `key`, if one is scheduled. */
  cancel(key: string): void {
    const retry = this.scheduled.get(key);
    if (retry === undefined) return;
    clearTimeout(retry.handle);
    this.scheduled.delete(key);
    retry.onOutcome('cancelled');
  }

  /** Cancels every retry and every later schedule. */
  cancelAll(): void {
    this.closed = true;
    for (const key of [...this.scheduled.keys()]) this.cancel(key);
  }

  /** Returns true when a retry is due before `atMs`. */
  hasDueBefore(atMs: number): boolean {
    for (const retry of this.scheduled.values()) {
      if (retry.dueAtMs < atMs) return true;
    }
    return false;
  }

  get size(): number {
    return this.scheduled.size;
  }
}
