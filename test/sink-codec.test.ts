import { expect } from 'chai';
import fc from 'fast-check';

import { MAX_RECORD_BYTES, RECORD_TOO_LARGE } from '../src/channel/ring.js';
import { ExoError } from '../src/errors.js';
import {
  decodeSubmission,
  encodeSubmission,
  encodeSubmissionInto,
  ERR_SUBMISSION_INVALID,
  ERR_SUBMISSION_MALFORMED,
  ERR_SUBMISSION_TOO_LARGE,
} from '../src/telemetry/submission-codec.js';
import type { Submission } from '../src/telemetry/submission.js';

const sample: Submission = {
  kind: 'runner-stderr',
  logPath: '/home/ada/.cache/exo/exo_log/runner_log/instance-a/runner-1/2026-05-28_14-03-07_123456Z.stderr.log',
  instanceId: 'instance-a',
  runnerId: 'runner-1',
  exitCode: null,
  signal: 'SIGABRT',
  diagnosticKinds: ['metal.gpu_timeout', 'python.exception'],
  primaryCause: 'signal 6 (SIGABRT) after a Metal GPU timeout',
  endedAtMs: 1_780_000_000_123,
};

/** Returns the error `action` throws, or undefined. */
function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Strings without lone surrogates, which the format turns into U+FFFD. */
const text = fc.string({ unit: 'grapheme', maxLength: 40 });

const submissions: fc.Arbitrary<Submission> = fc.record({
  kind: fc.constant('runner-stderr' as const),
  logPath: text,
  instanceId: text,
  runnerId: text,
  exitCode: fc.option(fc.integer({ min: -0x80000000, max: 0x7fffffff }), { nil: null }),
  signal: fc.option(text, { nil: null }),
  diagnosticKinds: fc.array(text, { maxLength: 6 }),
  primaryCause: text,
  endedAtMs: fc.double({ noNaN: true, noDefaultInfinity: true }),
});

describe('submission codec', () => {
  it('round-trips a submission', () => {
    expect(decodeSubmission(encodeSubmission(sample, MAX_RECORD_BYTES))).to.deep.equal(sample);
  });

  it('round-trips arbitrary submissions', () => {
    fc.assert(
      fc.property(submissions, (submission) => {
        expect(decodeSubmission(encodeSubmission(submission, MAX_RECORD_BYTES))).to.deep.equal(submission);
      }),
      { numRuns: 500 },
    );
  });

  it('replaces lone surrogates only', () => {
    const decoded = decodeSubmission(encodeSubmission({ ...sample, primaryCause: 'a\ud800b', runnerId: 'r' }, MAX_RECORD_BYTES));

    expect(decoded.primaryCause).to.equal('a\ufffdb');
    expect(decoded.runnerId).to.equal('r');
  });

  it('decodes from an offset view', () => {
    const record = encodeSubmission(sample, MAX_RECORD_BYTES);
    const padded = new Uint8Array(record.length + 7);
    padded.set(record, 7);

    expect(decodeSubmission(padded.subarray(7))).to.deep.equal(sample);
  });

  it('reports too large at the exact size', () => {
    const size = encodeSubmission(sample, MAX_RECORD_BYTES).length;

    expect(encodeSubmissionInto(sample, new Uint8Array(size))).to.equal(size);
    expect(encodeSubmissionInto(sample, new Uint8Array(size - 1))).to.equal(RECORD_TOO_LARGE);
    expect(encodeSubmissionInto(sample, new Uint8Array(20))).to.equal(RECORD_TOO_LARGE);
    expect(thrownBy(() => encodeSubmission(sample, size - 1))).to.have.property('code', ERR_SUBMISSION_TOO_LARGE);
  });

  it('rejects invalid fields by name', () => {
    const cases: [Partial<Record<keyof Submission, unknown>>, string][] = [
      [{ kind: 'other' }, 'kind'],
      [{ logPath: undefined }, 'logPath'],
      [{ instanceId: 7 }, 'instanceId'],
      [{ exitCode: 1.5 }, 'exitCode'],
      [{ exitCode: 2 ** 31 }, 'exitCode'],
      [{ signal: 6 }, 'signal'],
      [{ diagnosticKinds: 'metal' }, 'diagnosticKinds'],
      [{ diagnosticKinds: ['ok', 3] }, 'diagnosticKinds[1]'],
      [{ endedAtMs: Number.NaN }, 'endedAtMs'],
    ];
    for (const [override, field] of cases) {
      const error = thrownBy(() => encodeSubmissionInto({ ...sample, ...override } as Submission, new Uint8Array(4096)));
      expect(error, field).to.be.instanceOf(ExoError);
      expect((error as ExoError).code).to.equal(ERR_SUBMISSION_INVALID);
      expect((error as ExoError).message).to.include(`invalid submission ${field} `);
    }
  });

  it('rejects malformed records with a code', () => {
    const record = encodeSubmission(sample, MAX_RECORD_BYTES);
    const end = record.length;
    const changed = (offset: number, ...values: number[]) => {
      const copy = record.slice();
      copy.set(values, offset);
      return copy;
    };
    const cases: [Uint8Array, string][] = [
      [record.subarray(0, 39), 'shorter than the 40-byte trailer'],
      [changed(end - 1, 2), 'format version 2'],
      [changed(end - 3, 9), 'unknown kind 9'],
      [changed(end - 4, 0x80), 'unknown flags 0x80'],
      [changed(end - 12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 'end time NaN is not a finite number'],
      [changed(end - 20, 200), 'diagnostic kinds do not fit'],
      [changed(end - 40, 1), 'lengths add up to'],
      [changed(0, 0xff), 'not valid UTF-8'],
      [record.subarray(1), 'lengths add up to'],
    ];
    for (const [bytes, reason] of cases) {
      const error = thrownBy(() => decodeSubmission(bytes));
      expect(error, reason).to.be.instanceOf(ExoError);
      expect((error as ExoError).code).to.equal(ERR_SUBMISSION_MALFORMED);
      expect((error as ExoError).message).to.include(reason);
    }
  });

  it('throws only coded errors on damage', () => {
    const record = encodeSubmission(sample, MAX_RECORD_BYTES);
    const flip = fc.tuple(fc.nat({ max: record.length - 1 }), fc.integer({ min: 0, max: 255 }));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(flip, { minLength: 1, maxLength: 4 }), fc.nat(), (noise, flips, cut) => {
        const damaged = record.slice(0, record.length - (cut % 8));
        for (const [offset, value] of flips) if (offset < damaged.length) damaged[offset] = value;
        for (const bytes of [noise, damaged]) {
          const error = thrownBy(() => decodeSubmission(bytes));
          if (error !== undefined) expect((error as ExoError).code).to.equal(ERR_SUBMISSION_MALFORMED);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
