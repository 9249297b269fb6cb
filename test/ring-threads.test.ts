import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';

import { expect } from 'chai';
import fc from 'fast-check';

import { createRingBuffer, readRingCounters, RingConsumer, RingProducer, type RingCounters } from '../src/channel/ring.js';
import type { RingConsumerPlan } from './workers/ring-consumer.js';
import type { RingProducerPlan } from './workers/ring-producer.js';
import { describeMismatch, makeRecord, MIN_TEST_RECORD_BYTES, recordLength } from './workers/ring-records.js';

const PRODUCER_WORKER = new URL('./workers/ring-producer.js', import.meta.url);
const CONSUMER_WORKER = new URL('./workers/ring-consumer.js', import.meta.url);

/** Starts a fixture worker and resolves with its one message; rejects if it fails or exits without one. */
function runWorker<T>(script: URL, workerData: unknown): { result: Promise<T>; worker: Worker } {
  const worker = new Worker(script, { workerData });
  const result = new Promise<T>((resolve, reject) => {
    worker.once('message', (message: T) => resolve(message));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`test worker exited with code ${code} before reporting`)));
  });
  return { result, worker };
}

/** Receives until 'closed' in this thread, checking each record against the plan. */
async function drainHere(consumer: RingConsumer, sizes: number[]): Promise<{ received: number; mismatch?: string }> {
  let received = 0;
  for (;;) {
    const result = await consumer.receive(10_000);
    if (result === 'closed') return { received };
    if (result === 'timeout') return { received, mismatch: `no record within 10 s after ${received} records` };
    const mismatch = describeMismatch(result, received, recordLength(sizes, received));
    if (mismatch !== undefined) return { received, mismatch };
    received += 1;
  }
}

describe('ring across threads', () => {
  it('keeps order from a worker producer', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: MIN_TEST_RECORD_BYTES, max: 300 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 200 }),
        fc.constantFrom(0, 0, 1, 3),
        async (capacity, maxRecordBytes, sizeSeeds, burst, pauseMs) => {
          const buffer = createRingBuffer(capacity, maxRecordBytes);
          const sizes = sizeSeeds.map((seed) => MIN_TEST_RECORD_BYTES + (seed % (maxRecordBytes - MIN_TEST_RECORD_BYTES + 1)));
          // Enough records for at least 50 trips round the ring.
          const count = Math.max(500, 50 * capacity);
          const plan: RingProducerPlan = { buffer, count, sizes, burst, pauseMs };

          const producer = runWorker<{ fullRetries: number; counters: RingCounters }>(PRODUCER_WORKER, plan);
          const drained = await drainHere(new RingConsumer(buffer), sizes);
          if (drained.mismatch !== undefined) {
            // The producer would retry a full ring forever once this side stops.
            producer.result.catch(() => undefined);
            await producer.worker.terminate();
          }
          expect(drained.mismatch).to.equal(undefined);
          const report = await producer.result;

          expect(drained.received).to.equal(count);
          const counters = readRingCounters(buffer);
          expect(counters.sent).to.equal(count);
          expect(counters.received).to.equal(count);
          expect(counters.droppedFull).to.equal(report.fullRetries);
          expect(counters.depth).to.equal(0);
          expect(counters.highWater).to.be.within(1, capacity);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('keeps order into a worker consumer', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.integer({ min: MIN_TEST_RECORD_BYTES, max: 4092 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 300 }),
        async (capacity, sizes, burst) => {
          const buffer = createRingBuffer(capacity);
          const count = Math.max(400, 20 * capacity);
          const plan: RingConsumerPlan = { mode: 'drain', buffer, sizes, timeoutMs: 10_000 };
          const consumer = runWorker<{ received: number; mismatch?: string; counters: RingCounters }>(CONSUMER_WORKER, plan);

          const producer = new RingProducer(buffer);
          let fullRetries = 0;
          for (let index = 0; index < count; index++) {
            const record = makeRecord(index, recordLength(sizes, index));
            while (!producer.trySend(record)) {
              fullRetries += 1;
              await sleep(0);
            }
            // A pause after each burst lets the consumer empty the ring and go to sleep.
            if ((index + 1) % burst === 0) await sleep(1);
          }
          producer.close();
          const report = await consumer.result;

          expect(report.mismatch).to.equal(undefined);
          expect(report.received).to.equal(count);
          expect(report.counters.received).to.equal(count);
          expect(report.counters.sent).to.equal(count);
          expect(readRingCounters(buffer).droppedFull).to.equal(fullRetries);
        },
      ),
      { numRuns: 12 },
    );
  });

  it('shows counters in both threads', async () => {
    const buffer = createRingBuffer(8, 16);
    const producer = new RingProducer(buffer);
    for (let index = 0; index < 11; index++) producer.trySend(makeRecord(index, index === 10 ? 17 : 8));
    new RingConsumer(buffer).tryReceive();

    const plan: RingConsumerPlan = { mode: 'counters', buffer };
    const seen = await runWorker<RingCounters>(CONSUMER_WORKER, plan).result;

    expect(seen).to.deep.equal(readRingCounters(buffer));
    expect(seen).to.include({ sent: 8, droppedFull: 2, rejectedTooLarge: 1, received: 1, depth: 7, highWater: 8, capacity: 8 });
  });

  it('wakes a sleeping worker consumer', async () => {
    const buffer = createRingBuffer(4, 16);
    const plan: RingConsumerPlan = { mode: 'wait', buffer, timeoutMs: 20_000, tickMs: 0 };
    const consumer = runWorker<{ result: number[] | string; waitedMs: number }>(CONSUMER_WORKER, plan);

    await sleep(200);
    new RingProducer(buffer).trySend(makeRecord(7, 6));
    const report = await consumer.result;

    expect(report.result).to.deep.equal(Array.from(makeRecord(7, 6)));
    expect(report.waitedMs).to.be.below(10_000);
  });

  it('keeps the consumer loop running', async () => {
    const buffer = createRingBuffer(4, 16);
    const plan: RingConsumerPlan = { mode: 'wait', buffer, timeoutMs: 300, tickMs: 10 };

    const report = await runWorker<{ result: string; waitedMs: number; ticks: number }>(CONSUMER_WORKER, plan).result;

    expect(report.result).to.equal('timeout');
    expect(report.waitedMs).to.be.at.least(299);
    expect(report.waitedMs).to.be.below(3_000);
    // A 10 ms interval over a 300 ms wait: far fewer ticks would mean the wait blocked the thread.
    expect(report.ticks).to.be.at.least(10);
  });

  it('keeps an idle consumer thread alive', async () => {
    const buffer = createRingBuffer(4, 16);
    const plan: RingConsumerPlan = { mode: 'wait', buffer, timeoutMs: 200, tickMs: 0 };

    const report = await runWorker<{ result: string; waitedMs: number }>(CONSUMER_WORKER, plan).result;

    expect(report.result).to.equal('timeout');
    expect(report.waitedMs).to.be.at.least(199);
  });

  it('drains a closed ring in a worker', async () => {
    const buffer = createRingBuffer(16, 64);
    const producer = new RingProducer(buffer);
    const sizes = [10, 64, 4];
    for (let index = 0; index < 16; index++) producer.trySend(makeRecord(index, recordLength(sizes, index)));
    producer.close();

    const plan: RingConsumerPlan = { mode: 'drain', buffer, sizes, timeoutMs: 5_000 };
    const report = await runWorker<{ received: number; mismatch?: string }>(CONSUMER_WORKER, plan).result;

    expect(report.mismatch).to.equal(undefined);
    expect(report.received).to.equal(16);
  });
});
