import { Writable } from 'node:stream';

import { expect } from 'chai';
import winston from 'winston';

import { createRingBuffer, readRingCounters, RingConsumer, RingProducer } from '../src/channel/ring.js';
import type { Logger } from '../src/log/logger.js';
import { TelemetrySink } from '../src/telemetry/sink.js';
import { decodeSubmission, ERR_SUBMISSION_INVALID } from '../src/telemetry/submission-codec.js';
import type { Submission } from '../src/telemetry/submission.js';

interface LogEntry {
  level: string;
  message: string;
  [field: string]: unknown;
}

/** Returns a winston logger at debug level whose entries land in `entries`. */
function capturingLogger(entries: LogEntry[]): Logger {
  const stream = new Writable({
    objectMode: true,
    write(info: LogEntry, _encoding, done) {
      entries.push(info);
      done();
    },
  });
  return winston.createLogger({ level: 'debug', transports: [new winston.transports.Stream({ stream })] });
}

function submission(runnerId: string, overrides: Partial<Submission> = {}): Submission {
  return {
    kind: 'runner-stderr',
    logPath: `/var/log/exo/runner_log/instance-a/${runnerId}/2026-05-28_14-03-07_123456Z.stderr.log`,
    instanceId: 'instance-a',
    runnerId,
    exitCode: 1,
    signal: null,
    diagnosticKinds: ['python.exception'],
    primaryCause: 'exit code 1 after a Python exception',
    endedAtMs: 1_780_000_000_000,
    ...overrides,
  };
}

describe('TelemetrySink', () => {
  let entries: LogEntry[];
  let buffer: SharedArrayBuffer;
  let consumer: RingConsumer;

  beforeEach(() => {
    entries = [];
  });

  /** Makes a sink over a new ring of `capacity` records. */
  function makeSink(capacity: number, maxRecordBytes?: number): TelemetrySink {
    buffer = createRingBuffer(capacity, maxRecordBytes);
    consumer = new RingConsumer(buffer);
    return new TelemetrySink(new RingProducer(buffer), capturingLogger(entries));
  }

  it('puts submissions into the ring', () => {
    const sink = makeSink(4);
    const sent = submission('runner-1', { exitCode: null, signal: 'SIGSEGV', diagnosticKinds: [] });

    expect(sink.submit(sent)).to.equal(true);

    expect(decodeSubmission(consumer.tryReceive()!)).to.deep.equal(sent);
    expect(entries).to.deep.equal([]);
  });

  it('counts a burst into capacity 1', () => {
    const sink = makeSink(1);

    const results = Array.from({ length: 50 }, (_, index) => sink.submit(submission(`runner-${index}`)));

    expect(results[0]).to.equal(true);
    expect(results.slice(1).every((accepted) => accepted === false)).to.equal(true);
    const counters = readRingCounters(buffer);
    expect(counters.sent).to.equal(1);
    expect(counters.droppedFull).to.equal(49);
  });

  it('logs the first drop at debug', () => {
    const sink = makeSink(1);

    for (let index = 0; index < 5; index++) sink.submit(submission(`runner-${index}`));

    expect(entries).to.have.length(1);
    expect(entries[0]).to.include({
      level: 'debug',
      message: 'telemetry channel full, dropping submissions until the uploader catches up',
      instanceId: 'instance-a',
      runnerId: 'runner-1',
      capacity: 1,
    });
  });

  it('warns with the total once accepting', () => {
    const sink = makeSink(1);
    for (let index = 0; index < 5; index++) sink.submit(submission(`runner-${index}`));
    consumer.tryReceive();

    expect(sink.submit(submission('runner-5'))).to.equal(true);

    expect(entries.map((entry) => entry.level)).to.deep.equal(['debug', 'warn']);
    expect(entries[1]).to.include({
      message: 'dropped 4 telemetry submissions because the channel was full',
      dropped: 4,
      capacity: 1,
    });
  });

  it('starts a new count after the warning', () => {
    const sink = makeSink(1);
    sink.submit(submission('runner-0'));
    sink.submit(submission('runner-1'));
    consumer.tryReceive();
    sink.submit(submission('runner-2'));

    sink.submit(submission('runner-3'));
    sink.submit(submission('runner-4'));
    consumer.tryReceive();
    sink.submit(submission('runner-5'));

    const messages = entries.map((entry) => `${entry.level}: ${entry.message}`);
    expect(messages).to.deep.equal([
      'debug: telemetry channel full, dropping submissions until the uploader catches up',
      'warn: dropped 1 telemetry submissions because the channel was full',
      'debug: telemetry channel full, dropping submissions until the uploader catches up',
      'warn: dropped 2 telemetry submissions because the channel was full',
    ]);
  });

  it('warns with the total at close', () => {
    const sink = makeSink(1);
    for (let index = 0; index < 4; index++) sink.submit(submission(`runner-${index}`));

    sink.close();

    expect(entries.map((entry) => entry.level)).to.deep.equal(['debug', 'warn']);
    expect(entries[1]).to.include({ message: 'dropped 3 telemetry submissions because the channel was full', dropped: 3 });
    expect(readRingCounters(buffer).closed).to.equal(true);
  });

  it('drops and counts after close', () => {
    const sink = makeSink(4);
    sink.close();
    sink.close();

    expect(sink.submit(submission('runner-0'))).to.equal(false);
    expect(sink.submit(submission('runner-1'))).to.equal(false);

    expect(readRingCounters(buffer).droppedClosed).to.equal(2);
    expect(entries).to.have.length(1);
    expect(entries[0]).to.include({ level: 'debug', message: 'telemetry sink closed, dropping submissions', runnerId: 'runner-0' });
  });

  it('rejects a too-large submission whole', () => {
    const sink = makeSink(4, 200);

    expect(sink.submit(submission('runner-0', { primaryCause: 'x'.repeat(300) }))).to.equal(false);

    expect(readRingCounters(buffer).rejectedTooLarge).to.equal(1);
    expect(consumer.tryReceive()).to.equal(null);
    expect(entries).to.have.length(1);
    expect(entries[0]).to.include({
      level: 'warn',
      message: 'telemetry submission rejected: larger than the 200-byte record limit once encoded',
      instanceId: 'instance-a',
      runnerId: 'runner-0',
    });
  });

  it('rejects an invalid submission', () => {
    const sink = makeSink(4);

    expect(sink.submit(submission('runner-0', { exitCode: 1.5 }))).to.equal(false);
    expect(sink.submit(null as unknown as Submission)).to.equal(false);

    expect(readRingCounters(buffer).rejectedInvalid).to.equal(2);
    expect(entries.map((entry) => entry.message)).to.deep.equal([
      'telemetry submission rejected: it could not be encoded',
      'telemetry submission rejected: it could not be encoded',
    ]);
    expect(entries[0]).to.include({ level: 'warn', runnerId: 'runner-0' });
    expect(entries[0]!.error).to.include('exitCode 1.5').and.include(ERR_SUBMISSION_INVALID);
  });

  it('survives a throwing logger', () => {
    buffer = createRingBuffer(1);
    const logger = {
      log: () => {
        throw new Error('logger failed');
      },
    } as unknown as Logger;
    const sink = new TelemetrySink(new RingProducer(buffer), logger);

    expect(sink.submit(submission('runner-0'))).to.equal(true);
    expect(sink.submit(submission('runner-1'))).to.equal(false);
    expect(sink.submit(submission('runner-2', { exitCode: 0.5 }))).to.equal(false);
    expect(() => sink.close()).to.not.throw();
    expect(sink.submit(submission('runner-3'))).to.equal(false);
  });

  it('keeps every submission accounted', () => {
    const sink = makeSink(3, 300);
    let submitted = 0;
    for (let round = 0; round < 20; round++) {
      for (let index = 0; index < 5; index++) {
        const cause = index === 4 ? 'y'.repeat(400) : 'exit code 1';
        sink.submit(submission(`runner-${round}-${index}`, { primaryCause: cause }));
        submitted += 1;
      }
      consumer.tryReceive();
      consumer.tryReceive();
    }
    sink.close();
    sink.submit(submission('late'));
    submitted += 1;

    const counters = readRingCounters(buffer);
    expect(counters.sent + counters.droppedFull + counters.rejectedTooLarge + counters.rejectedInvalid + counters.droppedClosed).to.equal(
      submitted,
    );
  });
});
