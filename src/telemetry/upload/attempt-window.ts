/**
 * Counts the network attempts started in a sliding window, so that all
 * reports together make at most `maxPerWindow` attempts per `windowMs`. Pure:
 * the caller passes the clock and owns the wait.
 */
export class AttemptWindow {
  private readonly startedAtMs: number[] = [];

  constructor(
    private readonly maxPerWindow: number,
    private readonly windowMs: number,
  ) {}

  /** Returns how long to wait before the next attempt may start: 0 when it may start now. */
  delayMs(nowMs: number): number {
    while (this.startedAtMs.length > 0 && nowMs - this.startedAtMs[0] >= this.windowMs) this.startedAtMs.shift();
    if (this.startedAtMs.length < this.maxPerWindow) return 0;
    return this.startedAtMs[0] + this.windowMs - nowMs;
  }

  /** Records an attempt that starts now. */
  record(nowMs: number): void {
    this.startedAtMs.push(nowMs);
  }
}
