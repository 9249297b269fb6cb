/**
 * Test worker: consumes the ring in one of three modes and reports back.
 * - `drain`: receives until 'closed', checking each record against the plan;
 * - `wait`: one receive with a timeout while an interval timer counts ticks, to
 *   show that this thread's event loop runs during the wait. With `tickMs` 0
 *   there is no timer, so only the receive itself keeps the thread alive;
 * - `counters`: reports the counters as this thread reads them.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';

import { readRingCounters, RingConsumer } from '../../src/channel/ring.js';
import { describeMismatch, recordLength } from './ring-records.js';

export type RingConsumerPlan =
  | { mode: 'drain'; buffer: SharedArrayBuffer; sizes: number[]; timeoutMs: number }
  | { mode: 'wait'; buffer: SharedArrayBuffer; timeoutMs: number; tickMs: number }
  | { mode: 'counters'; buffer: SharedArrayBuffer };

const plan = workerData as RingConsumerPlan;
const consumer = new RingConsumer(plan.buffer);

async function drain(sizes: number[], timeoutMs: number): Promise<void> {
  let received = 0;
  let mismatch: string | undefined;
  for (;;) {
    const result = await consumer.receive(timeoutMs);
    if (result === 'closed') break;
    if (result === 'timeout') {
      mismatch = `no record within ${timeoutMs} ms after ${received} records`;
      break;
    }
    mismatch ??= describeMismatch(result, received, recordLength(sizes, received));
    received += 1;
  }
  parentPort!.postMessage({ received, mismatch, counters: readRingCounters(plan.buffer) });
}

async function waitOnce(timeoutMs: number, tickMs: number): Promise<void> {
  let ticks = 0;
  const ticker = tickMs > 0 ? setInterval(() => (ticks += 1), tickMs) : undefined;
  const startedAt = performance.now();
  const result = await consumer.receive(timeoutMs);
  const waitedMs = performance.now() - startedAt;
  clearInterval(ticker);
  parentPort!.postMessage({ result: typeof result === 'string' ? result : Array.from(result), waitedMs, ticks });
}

if (plan.mode === 'drain') await drain(plan.sizes, plan.timeoutMs);
if (plan.mode === 'wait') await waitOnce(plan.timeoutMs, plan.tickMs);
if (plan.mode === 'counters') parentPort!.postMessage(readRingCounters(plan.buffer));
