import { expect } from 'chai';
import sinon from 'sinon';

import { DEFAULT_BACKOFF_POLICY, isRetryable, parseRetryAfter, retryDelayMs } from '../src/telemetry/backoff.js';
import { AttemptWindow } from '../src/telemetry/upload/attempt-window.js';
import { RetryTimers, type TimerOutcome } from '../src/telemetry/upload/retry-timers.js';

const policy = DEFAULT_BACKOFF_POLICY;

describe('retryDelayMs', () => {
  it('grows the jitter ceiling exponentially', () => {
    const almostOne = () => 0.999999;
    const delays = [1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => retryDelayMs(attempt, policy, almostOne));
    expect(delays).to.deep.equal([999, 1999, 3999, 7999, 15999, 31999, 59999, 59999]);
  });

  it('draws the full jitter range', () => {
    expect(retryDelayMs(3, policy, () => 0)).to.equal(0);
    expect(retryDelayMs(3, policy, () => 0.5)).to.equal(2000);
  });

  it('honors Retry-After up to the cap', () => {
    expect(retryDelayMs(1, policy, () => 0.5, 7_000)).to.equal(7_000);
    expect(retryDelayMs(1, policy, () => 0.5, 0)).to.equal(0);
    expect(retryDelayMs(1, policy, () => 0.5, 3_600_000)).to.equal(policy.maxRetryAfterMs);
  });

  it('clamps a random source out of range', () => {
    expect(retryDelayMs(1, policy, () => 5)).to.equal(1000);
    expect(retryDelayMs(1, policy, () => -1)).to.equal(0);
  });
});

describe('parseRetryAfter', () => {
  const nowMs = Date.UTC(2026, 4, 28, 14, 0, 0);

  it('reads delta-seconds', () => {
    expect(parseRetryAfter('120', nowMs)).to.equal(120_000);
    expect(parseRetryAfter(' 0 ', nowMs)).to.equal(0);
  });

  it('reads an HTTP-date', () => {
    expect(parseRetryAfter('Thu, 28 May 2026 14:00:30 GMT', nowMs)).to.equal(30_000);
  });

  it('turns a past date into zero', () => {
    expect(parseRetryAfter('Thu, 28 May 2026 13:00:00 GMT', nowMs)).to.equal(0);
  });

  it('ignores missing and unreadable values', () => {
    for (const value of [undefined, '', '-5', '1.5', 'soon', '2026-05-28', '99999999999999999999']) {
      expect(parseRetryAfter(value, nowMs), String(value)).to.equal(undefined);
    }
  });
});

describe('isRetryable', () => {
  it('retries transient statuses', () => {
    for (const status of [408, 429, 500, 502, 503, 504]) expect(isRetryable({ status }), String(status)).to.equal(true);
  });

  it('treats other statuses as permanent', () => {
    for (const status of [301, 400, 401, 403, 404, 410, 413, 422, 501]) expect(isRetryable({ status }), String(status)).to.equal(false);
  });

  it('retries network codes and timeouts', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ERR_TELEMETRY_TIMEOUT', 'ERR_INVALID_PRESIGN_RESPONSE', 'ERR_BAD_RESPONSE']) {
      expect(isRetryable({ code }), code).to.equal(true);
    }
  });

  it('decides a 2xx failure on its code', () => {
    expect(isRetryable({ status: 200, code: 'ERR_INVALID_PRESIGN_RESPONSE' })).to.equal(true);
    expect(isRetryable({ status: 200 })).to.equal(false);
  });

  it('lets the status win over the code', () => {
    expect(isRetryable({ status: 400, code: 'ECONNRESET' })).to.equal(false);
  });

  it('rejects unknown codes', () => {
    expect(isRetryable({ code: 'ERR_CANCELED' })).to.equal(false);
    expect(isRetryable({})).to.equal(false);
  });
});

describe('AttemptWindow', () => {
  it('limits attempts per window', () => {
    const window = new AttemptWindow(2, 60_000);
    expect(window.delayMs(0)).to.equal(0);
    window.record(0);
    window.record(10_000);
    expect(window.delayMs(20_000)).to.equal(40_000);
    expect(window.delayMs(60_000)).to.equal(0);
  });
});

describe('RetryTimers', () => {
  let clock: sinon.SinonFakeTimers;

  beforeEach(() => {
    clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });

  afterEach(() => {
    clock.restore();
  });

  it('fires after the delay', () => {
    const timers = new RetryTimers();
    const outcomes: TimerOutcome[] = [];
    timers.schedule('a', 1_000, (outcome) => outcomes.push(outcome));

    clock.tick(999);
    expect(outcomes).to.deep.equal([]);
    clock.tick(1);
    expect(outcomes).to.deep.equal(['fired']);
    expect(timers.size).to.equal(0);
  });

  it('cancels exactly once on shutdown', () => {
    const timers = new RetryTimers();
    const outcomes: TimerOutcome[] = [];
    timers.schedule('a', 1_000, (outcome) => outcomes.push(outcome));

    timers.cancelAll();
    timers.cancelAll();
    clock.tick(10_000);
    expect(outcomes).to.deep.equal(['cancelled']);
  });

  it('cancels schedules after shutdown', () => {
    const timers = new RetryTimers();
    timers.cancelAll();
    const outcomes: TimerOutcome[] = [];
    timers.schedule('a', 0, (outcome) => outcomes.push(outcome));
    clock.tick(10);
    expect(outcomes).to.deep.equal(['cancelled']);
  });

  it('replaces a schedule of the same key', () => {
    const timers = new RetryTimers();
    const outcomes: string[] = [];
    timers.schedule('a', 1_000, (outcome) => outcomes.push(`first ${outcome}`));
    timers.schedule('a', 2_000, (outcome) => outcomes.push(`second ${outcome}`));

    clock.tick(2_000);
    expect(outcomes).to.deep.equal(['first cancelled', 'second fired']);
  });

  it('reports retries due before a time', () => {
    const timers = new RetryTimers();
    timers.schedule('a', 5_000, () => undefined);
    expect(timers.hasDueBefore(Date.now() + 5_001)).to.equal(true);
    expect(timers.hasDueBefore(Date.now() + 5_000)).to.equal(false);
  });

  it('spaces retries by the policy', () => {
    // A tiny retry loop over the policy: the caller owns the timer and gets one terminal outcome.
    const timers = new RetryTimers();
    const firedAtMs: number[] = [];
    const startMs = Date.now();
    let attempt = 0;
    const terminal: string[] = [];
    const tryOnce = () => {
      attempt += 1;
      firedAtMs.push(Date.now() - startMs);
      if (attempt === 4) {
        terminal.push('gave up');
        return;
      }
      timers.schedule('report', retryDelayMs(attempt, policy, () => 0.999999), (outcome) => {
        if (outcome === 'fired') tryOnce();
        else terminal.push('cancelled');
      });
    };

    tryOnce();
    clock.tick(60_000);
    expect(firedAtMs).to.deep.equal([0, 999, 999 + 1999, 999 + 1999 + 3999]);
    expect(terminal).to.deep.equal(['gave up']);
  });
});
