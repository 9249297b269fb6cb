/** Spacing of the restarts of a crashed runner. */
export interface RestartPolicy {
  /** Delay before the first restart. */
  initialDelayMs: number;
  /** Upper bound of the delay, reached by doubling. */
  maxDelayMs: number;
  /** A runner that stayed up this long counts as healthy: its next restart starts from the initial delay again. */
  healthyUptimeMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  healthyUptimeMs: 60_000,
};

/** Returns the delay before restart number `restart` (1 for the first), doubling from the initial delay up to the cap. */
export function restartDelayMs(restart: number, policy: RestartPolicy = DEFAULT_RESTART_POLICY): number {
  const doublings = Math.max(0, restart - 1);
  // 2 ** 30 already passes any sane cap, and stopping there avoids Infinity.
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(doublings, 30));
}
