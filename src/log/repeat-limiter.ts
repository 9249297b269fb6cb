/**
 * Lets at most `maxPerWindow` entries of one key through per window, and counts
 * the rest, so a runner that floods stderr or a server that fails every request
 * cannot flood the node log. The caller owns the clock, which keeps this pure.
 */
export class RepeatLimiter {
  private readonly windows = new Map<string, { startedAtMs: number; passed: number; suppressed: number }>();

  constructor(
    private readonly maxPerWindow: number,
    private readonly windowMs: number,
  ) {}

  /**
   * Returns whether an entry of `key` may be logged now, and how many were
   * suppressed in the window that just ended (report those once).
   */
  take(key: string, nowMs: number): { allowed: boolean; suppressedBefore: number } {
    let window = this.windows.get(key);
    let suppressedBefore = 0;
    if (window === undefined || nowMs - window.startedAtMs >= this.windowMs) {
      suppressedBefore = window?.suppressed ?? 0;
      window = { startedAtMs: nowMs, passed: 0, suppressed: 0 };
      this.windows.set(key, window);
    }
    if (window.passed < this.maxPerWindow) {
      window.passed += 1;
      return { allowed: true, suppressedBefore };
    }
    window.suppressed += 1;
    return { allowed: false, suppressedBefore };
  }

  /** Returns and clears the count suppressed for `key`, for a summary at the end of a stream. */
  flush(key: string): number {
    const window = this.windows.get(key);
    this.windows.delete(key);
    return window?.suppressed ?? 0;
  }
}
