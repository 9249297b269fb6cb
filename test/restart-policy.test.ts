import { expect } from 'chai';

import { DEFAULT_RESTART_POLICY, restartDelayMs } from '../src/supervision/restart-policy.js';

describe('restartDelayMs', () => {
  it('doubles from one second', () => {
    expect([1, 2, 3, 4, 5].map((restart) => restartDelayMs(restart))).to.deep.equal([1000, 2000, 4000, 8000, 16000]);
  });

  it('stops at the cap', () => {
    expect(restartDelayMs(6)).to.equal(DEFAULT_RESTART_POLICY.maxDelayMs);
    expect(restartDelayMs(10_000)).to.equal(DEFAULT_RESTART_POLICY.maxDelayMs);
  });

  it('follows a custom policy', () => {
    const policy = { initialDelayMs: 10, maxDelayMs: 50, healthyUptimeMs: 0 };
    expect([1, 2, 3, 4].map((restart) => restartDelayMs(restart, policy))).to.deep.equal([10, 20, 40, 50]);
  });
});
