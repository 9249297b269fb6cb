/**
 * Test worker: sends `count` records into the ring in bursts, retrying a full
 * ring, then closes the producer and reports how often the ring was full.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';

import { readRingCounters, RingProducer } from '../../src/channel/ring.js';
import { makeRecord, recordLength } from './ring-records.js';

export interface RingProducerPlan {
  buffer: SharedArrayBuffer;
  count: number;
  /** Record lengths, cycled through. */
  sizes: number[];
  /** Records sent back to back before a pause. */
  burst: number;
  /** Pause after each burst, long enough for the consumer to go to sleep when above 0. */
  pauseMs: number;
}

const plan = workerData as RingProducerPlan;
const producer = new RingProducer(plan.buffer);

let fullRetries = 0;
for (let index = 0; index < plan.count; index++) {
  const record = makeRecord(index, recordLength(plan.sizes, index));
  while (!producer.trySend(record)) {
    fullRetries += 1;
    // Yields now and then so a full ring does not pin this core against the consumer.
    if (fullRetries % 64 === 0) await sleep(0);
  }
  if ((index + 1) % plan.burst === 0) await sleep(plan.pauseMs);
}
producer.close();

parentPort!.postMessage({ fullRetries, counters: readRingCounters(plan.buffer) });
