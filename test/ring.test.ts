import { setImmediate, setTimeout as sleep } from 'node:timers/promises';

import { expect } from 'chai';
import fc from 'fast-check';

import { CONSUMER_SLEEPING_INDEX } from '../src/channel/layout.js';
import {
  createRingBuffer,
  DEFAULT_RING_CAPACITY,
  ERR_RING_MAX_RECORD_BYTES,
  ERR_TELEMETRY_CHANNEL_CAPACITY,
  MAX_RECORD_BYTES,
  readRingCounters,
  RECORD_TOO_LARGE,
  RingConsumer,
  RingOptionError,
  RingProducer,
} from '../src/channel/ring.js';
import { describeMismatch, makeRecord } from './workers/ring-records.js';

/** Returns `length` bytes all equal to `value`. */
function filled(length: number, value: number): Uint8Array {
  return new Uint8Array(length).fill(value);
}

describe('createRingBuffer', () => {
  it('rejects invalid capacities', () => {
    for (const capacity of [0, 65_537, 1.5, Number.NaN, -1, Number.POSITIVE_INFINITY]) {
      let thrown: unknown;
      try {
        createRingBuffer(capacity);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, `capacity ${capacity}`).to.be.instanceOf(RangeError);
      expect(thrown).to.be.instanceOf(RingOptionError);
      expect((thrown as RingOptionError).code).to.equal(ERR_TELEMETRY_CHANNEL_CAPACITY);
      expect((thrown as Error).message).to.include('--telemetry-channel-capacity');
      expect((thrown as Error).message).to.include(String(capacity));
      expect((thrown as Error).message).to.include('from 1 to 65536');
    }
  });

  it('accepts capacities 1 and 65536', () => {
    expect(readRingCounters(createRingBuffer(1)).capacity).to.equal(1);
    expect(readRingCounters(createRingBuffer(65_536, 16)).capacity).to.equal(65_536);
  });

  it('sizes slots from the record limit', () => {
    expect(createRingBuffer(DEFAULT_RING_CAPACITY).byteLength).to.equal(256 + DEFAULT_RING_CAPACITY * 4096);
    expect(MAX_RECORD_BYTES).to.equal(4092);
    expect(createRingBuffer(2, 5).byteLength).to.equal(256 + 2 * 16);
  });

  it('rejects invalid record limits', () => {
    for (const maxRecordBytes of [0, 1.5, (1 << 20) + 1]) {
      expect(() => createRingBuffer(4, maxRecordBytes), `limit ${maxRecordBytes}`)
        .to.throw(RangeError, 'invalid maximum record size')
        .with.property('code', ERR_RING_MAX_RECORD_BYTES);
    }
  });

  it('rejects a foreign buffer', () => {
    expect(() => new RingProducer(new SharedArrayBuffer(4096))).to.throw(TypeError, 'createRingBuffer');
    expect(() => new RingConsumer(new ArrayBuffer(4096) as unknown as SharedArrayBuffer)).to.throw(TypeError, 'createRingBuffer');
  });
});

describe('RingProducer and RingConsumer in one thread', () => {
  it('delivers records in order', () => {
    const buffer = createRingBuffer(4, 64);
    const producer = new RingProducer(buffer);
    const consumer = new RingConsumer(buffer);

    for (let index = 0; index < 3; index++) expect(producer.trySend(makeRecord(index, 10 + index))).to.equal(true);

    for (let index = 0; index < 3; index++) {
      const record = consumer.tryReceive();
      expect(record).to.not.equal(null);
      expect(describeMismatch(record!, index, 10 + index)).to.equal(undefined);
    }
    expect(consumer.tryReceive()).to.equal(null);
  });

  it('counts drops when full exactly', () => {
    const buffer = createRingBuffer(4, 16);
    const producer = new RingProducer(buffer);

    const results = Array.from({ length: 10 }, (_, index) => producer.trySend(filled(8, index)));

    expect(results).to.deep.equal([true, true, true, true, false, false, false, false, false, false]);
    const counters = readRingCounters(buffer);
    expect(counters.sent).to.equal(4);
    expect(counters.droppedFull).to.equal(6);
    expect(counters.depth).to.equal(4);
    expect(counters.highWater).to.equal(4);
  });

  it('accepts again after a receive', () => {
    const buffer = createRingBuffer(1, 16);
    const producer = new RingProducer(buffer);
    const consumer = new RingConsumer(buffer);

    expect(producer.trySend(filled(3, 1))).to.equal(true);
    expect(producer.trySend(filled(3, 2))).to.equal(false);
    expect(Array.from(consumer.tryReceive()!)).to.deep.equal([1, 1, 1]);
    expect(producer.trySend(filled(3, 3))).to.equal(true);
    expect(Array.from(consumer.tryReceive()!)).to.deep.equal([3, 3, 3]);
  });

  it('rejects too-large records whole', () => {
    const buffer = createRingBuffer(4, 100);
    const producer = new RingProducer(buffer);
    const consumer = new RingConsumer(buffer);

    expect(producer.trySend(filled(101, 7))).to.equal(false);
    expect(producer.trySend(filled(100, 8))).to.equal(true);

    const counters = readRingCounters(buffer);
    expect(counters.rejectedTooLarge).to.equal(1);
    expect(counters.sent).to.equal(1);
    const record = consumer.tryReceive();
    expect(record).to.have.length(100);
    expect(record!.every((byte) => byte === 8)).to.equal(true);
    expect(consumer.tryReceive()).to.equal(null);
  });

  it('rejects too-large before full', () => {
    const buffer = createRingBuffer(1, 8);
    const producer = new RingProducer(buffer);

    producer.trySend(filled(8, 1));
    expect(producer.trySend(filled(9, 2))).to.equal(false);

    const counters = readRingCounters(buffer);
    expect(counters.rejectedTooLarge).to.equal(1);
    expect(counters.droppedFull).to.equal(0);
  });

  it('carries empty records', () => {
    const buffer = createRingBuffer(2, 8);
    const producer = new RingProducer(buffer);
    const consumer = new RingConsumer(buffer);

    expect(producer.trySend(new Uint8Array(0))).to.equal(true);
    expect(consumer.tryReceive()).to.have.length(0);
  });

  it('returns copies that outlive the slot', () => {
    const buffer = createRingBuffer(1, 8);
    const producer = new RingProducer(buffer);
    const consumer = new RingConsumer(buffer);

    producer.trySend(filled(4, 1));
    const first = consumer.tryReceive()!;
    producer.trySend(filled(4, 2));

    expect(Array.from(first)).to.deep.equal([1, 1, 1, 1]);
    expect(first.buffer).to.not.equal(buffer);
  });

  it('never throws on bad input', () => {
    const buffer = createRingBuffer(2, 8);
    const producer = new RingProducer(buffer);

    expect(producer.trySend('text' as unknown as Uint8Array)).to.equal(false);
    expect(producer.trySend(undefined as unknown as Uint8Array)).to.equal(false);
    expect(readRingCounters(buffer).rejectedInvalid).to.equal(2);
  });
});

describe('RingProducer.trySendWith', () => {
  it('encodes straight into the slot', () => {
    const buffer = createRingBuffer(2, 32);
    const producer = new RingProducer(buffer);
    const consumer = new RingConsumer(buffer);

    const status = producer.trySendWith((slot, view) => {
      expect(slot.length).to.equal(32);
      expect(view.byteLength).to.equal(32);
      view.setUint16(0, 0x0201, true);
      slot[2] = 3;
      return 3;
    });

    expect(status).to.equal('sent');
    expect(Array.from(consumer.tryReceive()!)).to.deep.equal([1, 2, 3]);
  });

  it('reports every outcome and its counter', () => {
    const buffer = createRingBuffer(1, 8);
    const producer = new RingProducer(buffer);

    expect(producer.trySendWith(() => RECORD_TOO_LARGE)).to.equal('too-large');
    expect(
      producer.trySendWith(() => {
        throw new Error('encoder failed');
      }),
    ).to.equal('invalid');
    expect(producer.trySendWith(() => 9)).to.equal('invalid');
    expect(producer.trySendWith(() => 1.5)).to.equal('invalid');
    expect(producer.trySendWith(() => 8)).to.equal('sent');
    expect(producer.trySendWith(() => 1)).to.equal('full');
    producer.close();
    expect(producer.trySendWith(() => 1)).to.equal('closed');

    const counters = readRingCounters(buffer);
    expect(counters.rejectedTooLarge).to.equal(1);
    expect(counters.rejectedInvalid).to.equal(3);
    expect(counters.sent).to.equal(1);
    expect(counters.droppedFull).to.equal(1);
    expect(counters.droppedClosed).to.equal(1);
  });
});

describe('RingProducer.close', () => {
  it('lets the consumer drain first', async () => {
    const buffer = createRingBuffer(4, 8);
    const producer = new RingProducer(buffer);
    const consumer = new RingConsumer(buffer);

    producer.trySend(filled(1, 1));
    producer.trySend(filled(1, 2));
    producer.close();
    producer.close();

    expect(producer.closed).to.equal(true);
    expect(Array.from((await consumer.receive(1000)) as Uint8Array)).to.deep.equal([1]);
    expect(Array.from((await consumer.receive(1000)) as Uint8Array)).to.deep.equal([2]);
    expect(await consumer.receive(1000)).to.equal('closed');
    expect(await consumer.receive(1000)).to.equal('closed');
  });

  it('drops and counts later sends', () => {
    const buffer = createRingBuffer(4, 8);
    const producer = new RingProducer(buffer);
    producer.close();

    expect(producer.trySend(filled(1, 1))).to.equal(false);
    expect(producer.trySend(filled(9, 1))).to.equal(false);

    const counters = readRingCounters(buffer);
    expect(counters.droppedClosed).to.equal(2);
    expect(counters.sent).to.equal(0);
    expect(counters.closed).to.equal(true);
  });

  it('wakes a waiting receive', async () => {
    const buffer = createRingBuffer(4, 8);
    const producer = new RingProducer(buffer);
    const consumer = new RingConsumer(buffer);

    const startedAt = performance.now();
    const received = consumer.receive(5_000);
    setTimeout(() => producer.close(), 20);

    expect(await received).to.equal('closed');
    expect(performance.now() - startedAt).to.be.below(2_000);
  });
});

describe('RingConsumer.receive', () => {
  it('returns a record sent later', async () => {
    const buffer = createRingBuffer(4, 8);
    const producer = new RingProducer(buffer);
    const consumer = new RingConsumer(buffer);

    const startedAt = performance.now();
    const received = consumer.receive(5_000);
    setTimeout(() => producer.trySend(filled(2, 9)), 20);

    expect(Array.from((await received) as Uint8Array)).to.deep.equal([9, 9]);
    expect(performance.now() - startedAt).to.be.below(2_000);
  });

  it('times out after the bound', async () => {
    const consumer = new RingConsumer(createRingBuffer(4, 8));

    const startedAt = performance.now();
    const result = await consumer.receive(50);
    const waitedMs = performance.now() - startedAt;

    expect(result).to.equal('timeout');
    expect(waitedMs).to.be.at.least(49);
    expect(waitedMs).to.be.below(1_000);
  });

  it('returns at once with zero timeout', async () => {
    const consumer = new RingConsumer(createRingBuffer(4, 8));
    expect(await consumer.receive(0)).to.equal('timeout');
  });

  it('rejects invalid timeouts', async () => {
    const consumer = new RingConsumer(createRingBuffer(4, 8));
    for (const timeoutMs of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      let thrown: unknown;
      await consumer.receive(timeoutMs).catch((error: unknown) => (thrown = error));
      expect(thrown, `timeout ${timeoutMs}`).to.be.instanceOf(RangeError);
      expect((thrown as Error).message).to.include('invalid receive timeout');
    }
  });

  it('sleeps at once when idle', async () => {
    const buffer = createRingBuffer(4, 8);
    const consumer = new RingConsumer(buffer);
    const header = new Int32Array(buffer);

    const received = consumer.receive(5_000);
    await setImmediate();

    expect(Atomics.load(header, CONSUMER_SLEEPING_INDEX)).to.equal(1);
    new RingProducer(buffer).trySend(filled(1, 5));
    expect(Array.from((await received) as Uint8Array)).to.deep.equal([5]);
    expect(Atomics.load(header, CONSUMER_SLEEPING_INDEX)).to.equal(0);
  });

  it('polls before sleeping after a record', async () => {
    const buffer = createRingBuffer(4, 8);
    const consumer = new RingConsumer(buffer, { spinBeforeWaitMs: 200 });
    const header = new Int32Array(buffer);
    new RingProducer(buffer).trySend(filled(1, 1));
    consumer.tryReceive();

    const received = consumer.receive(5_000);
    await sleep(50);
    const sleepingDuringSpin = Atomics.load(header, CONSUMER_SLEEPING_INDEX);
    await sleep(400);
    const sleepingAfterSpin = Atomics.load(header, CONSUMER_SLEEPING_INDEX);
    new RingProducer(buffer).close();

    expect(sleepingDuringSpin).to.equal(0);
    expect(sleepingAfterSpin).to.equal(1);
    expect(await received).to.equal('closed');
  });

  it('rejects an invalid spin time', () => {
    expect(() => new RingConsumer(createRingBuffer(4, 8), { spinBeforeWaitMs: -1 })).to.throw(RangeError, 'invalid spinBeforeWaitMs -1');
  });

  it('resumes where an earlier consumer stopped', () => {
    const buffer = createRingBuffer(4, 8);
    const producer = new RingProducer(buffer);
    for (let value = 1; value <= 3; value++) producer.trySend(filled(1, value));

    expect(Array.from(new RingConsumer(buffer).tryReceive()!)).to.deep.equal([1]);
    expect(Array.from(new RingConsumer(buffer).tryReceive()!)).to.deep.equal([2]);
    expect(readRingCounters(buffer).received).to.equal(2);
  });
});

describe('ring against a queue model', () => {
  type Operation = { send: number } | { receive: true };

  it('matches the model over many wrap-arounds', () => {
    const operation = fc.oneof(
      fc.record({ send: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ receive: fc.constant(true as const) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 32 }),
        fc.array(operation, { minLength: 1, maxLength: 400 }),
        (capacity, maxRecordBytes, operations: Operation[]) => {
          const buffer = createRingBuffer(capacity, maxRecordBytes);
          const producer = new RingProducer(buffer);
          const consumer = new RingConsumer(buffer);
          const model: Uint8Array[] = [];
          const expected = { sent: 0, droppedFull: 0, rejectedTooLarge: 0, received: 0, highWater: 0 };

          operations.forEach((step, index) => {
            if ('send' in step) {
              const record = filled(step.send, index & 0xff);
              const accepted = producer.trySend(record);
              if (step.send > maxRecordBytes) {
                expect(accepted).to.equal(false);
                expected.rejectedTooLarge += 1;
              } else if (model.length === capacity) {
                expect(accepted).to.equal(false);
                expected.droppedFull += 1;
              } else {
                expect(accepted).to.equal(true);
                model.push(record);
                expected.sent += 1;
                expected.highWater = Math.max(expected.highWater, model.length);
              }
            } else {
              const record = consumer.tryReceive();
              const next = model.shift();
              if (next === undefined) {
                expect(record).to.equal(null);
              } else {
                expect(Array.from(record!)).to.deep.equal(Array.from(next));
                expected.received += 1;
              }
            }
          });

          const counters = readRingCounters(buffer);
          expect(counters).to.include(expected);
          expect(counters.depth).to.equal(model.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});
