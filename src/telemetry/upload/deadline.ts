import { ExoError } from '../../errors.js';
import { TIMEOUT_CODE } from './failure.js';

/**
 * An AbortSignal that fires when the caller's signal does, or when no progress
 * was reported for `timeoutMs`. `touch()` reports progress, so a large PUT that
 * keeps moving never times out while a stalled one does.
 *
 * The timer is the global setTimeout, looked up on each use, so tests can
 * drive it with sinon fake timers.
 */
export class IdleDeadline {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private cleared = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly what: string,
    parent?: AbortSignal,
  ) {
    this.signal = parent === undefined ? this.controller.signal : AbortSignal.any([parent, this.controller.signal]);
    this.touch();
  }

  /** Restarts the countdown. */
  touch(): void {
    if (this.cleared || this.controller.signal.aborted) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.controller.abort(new ExoError(TIMEOUT_CODE, `${this.what} timed out after ${this.timeoutMs} ms without progress`));
    }, this.timeoutMs);
  }

  /** Stops the countdown for good. */
  clear(): void {
    this.cleared = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
