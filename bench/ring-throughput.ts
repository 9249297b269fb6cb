/**
 * Row 4: records per second from one worker thread to another through the
 * ring, against `postMessage` through a MessageChannel, with the same encoded
 * submissions, in interleaved rounds in one run. Run alone with
 * `node dist/bench/ring-throughput.js`.
 *
 * Each side keeps its two threads for the whole run, and a first round of each
 * is not counted, so that both are measured with optimized code. A round's time
 * runs from the producer's first send to the consumer's last receipt, both read
 * as `performance.timeOrigin + performance.now()`, which is comparable across
 * threads. The ring applies backpressure (the producer retries a full ring),
 * while postMessage queues without bound. The notes give the retry count.
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { isMainThread, MessageChannel, type MessagePort, parentPort, Worker, workerData } from 'node:worker_threads';

import { createRingBuffer, DEFAULT_RING_CAPACITY, MAX_RECORD_BYTES, RingConsumer, RingProducer } from '../src/channel/ring.js';
import { encodeSubmission } from '../src/telemetry/submission-codec.js';
import { sampleSubmission } from './submit-cost.js';
import { fmt, formatTable, quantile, type BenchRow } from './table.js';

/** Records per round. */
const RECORD_COUNT = 200_000;
/** Counted rounds each way, alternating; the medians are compared. */
const ROUNDS = 5;
/** Rounds each way run first and not counted, while the JIT compiles both paths. */
const WARM_UP_ROUNDS = 1;
/** Distinct records cycled through, so that no single record stays hot in a cache. */
const DISTINCT_RECORDS = 48;
const TARGET_RATIO = 4;
/** How long a producer facing a full ring polls before it sleeps between tries. */
const FULL_SPIN_MS = 1;
/** Time between two polls of a full ring. */
const FULL_POLL_INTERVAL_MS = 0.001;
/** Sleep between tries once polling gave up. Linux stretches it by the default timer slack of 0.05 ms. */
const FULL_SLEEP_MS = 0.02;

/** Marks the workerData of this file's threads, so importing the file elsewhere starts nothing. */
const ROLE_MARK = 'ring-throughput-thread';

type ThreadRole = { mark: typeof ROLE_MARK } & (
  | { role: 'ring-producer'; buffer: SharedArrayBuffer }
  | { role: 'ring-consumer'; buffer: SharedArrayBuffer }
  | { role: 'port-producer'; port: MessagePort }
  | { role: 'port-consumer'; port: MessagePort }
);

interface ProducerReport {
  startedAtMs: number;
  fullRetries: number;
}

interface ConsumerReport {
  endedAtMs: number;
  bytes: number;
}

function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

function sampleRecords(): Uint8Array[] {
  return Array.from({ length: DISTINCT_RECORDS }, (_, index) => encodeSubmission(sampleSubmission(index), MAX_RECORD_BYTES));
}

/**
 * Worker side. A consumer receives the record count of the next round and
 * reports when all of them arrived. A producer sends that many on each request.
 */
async function runThread(role: ThreadRole): Promise<void> {
  const parent = parentPort!;

  if (role.role === 'port-consumer') {
    let expected = 0;
    let received = 0;
    let bytes = 0;
    parent.on('message', (count: number) => {
      expected = count;
      received = 0;
      bytes = 0;
      parent.postMessage('ready');
    });
    role.port.on('message', (record: Uint8Array) => {
      received += 1;
      bytes += record.length;
      if (received === expected) parent.postMessage({ endedAtMs: nowMs(), bytes } satisfies ConsumerReport);
    });
    parent.postMessage('started');
    return;
  }

  if (role.role === 'ring-consumer') {
    const consumer = new RingConsumer(role.buffer);
    parent.on('message', (count: number) => {
      parent.postMessage('ready');
      void receiveRound(consumer, count).then((report) => parent.postMessage(report));
    });
    parent.postMessage('started');
    return;
  }

  const records = sampleRecords();
  const send = role.role === 'port-producer' ? sendThroughPort(role.port) : sendThroughRing(new RingProducer(role.buffer));
  parent.on('message', (count: number) => {
    const startedAtMs = nowMs();
    let fullRetries = 0;
    for (let index = 0; index < count; index++) {
      const record = records[index % DISTINCT_RECORDS]!;
      if (!send(record)) fullRetries += waitForRoom(() => send(record));
    }
    parent.postMessage({ startedAtMs, fullRetries } satisfies ProducerReport);
  });
  parent.postMessage('started');
}

async function receiveRound(consumer: RingConsumer, count: number): Promise<ConsumerReport> {
  let bytes = 0;
  for (let received = 0; received < count; received++) {
    const record = consumer.tryReceive() ?? (await consumer.receive(10_000));
    if (typeof record === 'string') throw new Error(`ring consumer received '${record}' after ${received} of ${count} records`);
    bytes += record.length;
  }
  return { endedAtMs: nowMs(), bytes };
}

function sendThroughPort(port: MessagePort): (record: Uint8Array) => boolean {
  return (record) => {
    port.postMessage(record);
    return true;
  };
}

function sendThroughRing(producer: RingProducer): (record: Uint8Array) => boolean {
  return (record) => producer.trySend(record);
}

/** A cell that no thread notifies: Atomics.wait on it is a plain sleep that frees the core. */
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/**
 * Retries `trySend` until it succeeds and returns the number of failed tries.
 * It polls for FULL_SPIN_MS first, which covers a consumer that is running,
 * then sleeps FULL_SLEEP_MS between tries, so that a consumer waiting for a
 * core on a busy machine gets this one. Reading the clock between polls keeps
 * this thread off the ring's shared cache lines meanwhile.
 */
function waitForRoom(trySend: () => boolean): number {
  const spinUntil = performance.now() + FULL_SPIN_MS;
  let tries = 1;
  for (;;) {
    const now = performance.now();
    if (now < spinUntil) {
      while (performance.now() < now + FULL_POLL_INTERVAL_MS);
    } else {
      Atomics.wait(sleepCell, 0, 0, FULL_SLEEP_MS);
    }
    if (trySend()) return tries;
    tries += 1;
  }
}

/** Starts a thread of this file and resolves once it is listening. */
async function startThread(role: ThreadRole, transfer: MessagePort[] = []): Promise<Worker> {
  const worker = new Worker(new URL(import.meta.url), { workerData: role, transferList: transfer });
  await nextMessage(worker);
  return worker;
}

function nextMessage<T>(worker: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    worker.once('error', onError);
    worker.once('message', (message: T) => {
      worker.off('error', onError);
      resolve(message);
    });
  });
}

/** A producer thread and a consumer thread joined by a ring or a MessageChannel. */
interface ThreadPair {
  producer: Worker;
  consumer: Worker;
}

async function startPair(kind: 'ring' | 'port'): Promise<ThreadPair> {
  if (kind === 'ring') {
    const buffer = createRingBuffer(DEFAULT_RING_CAPACITY);
    return {
      consumer: await startThread({ mark: ROLE_MARK, role: 'ring-consumer', buffer }),
      producer: await startThread({ mark: ROLE_MARK, role: 'ring-producer', buffer }),
    };
  }
  const { port1, port2 } = new MessageChannel();
  return {
    consumer: await startThread({ mark: ROLE_MARK, role: 'port-consumer', port: port2 }, [port2]),
    producer: await startThread({ mark: ROLE_MARK, role: 'port-producer', port: port1 }, [port1]),
  };
}

/** Runs one round through `pair` and returns records per second, with the producer's full-ring retries. */
async function runRound(pair: ThreadPair): Promise<{ recordsPerSecond: number; fullRetries: number; bytes: number }> {
  pair.consumer.postMessage(RECORD_COUNT);
  await nextMessage(pair.consumer);

  const consumerDone = nextMessage<ConsumerReport>(pair.consumer);
  const producerDone = nextMessage<ProducerReport>(pair.producer);
  pair.producer.postMessage(RECORD_COUNT);
  const [sent, received] = await Promise.all([producerDone, consumerDone]);

  const seconds = (received.endedAtMs - sent.startedAtMs) / 1000;
  return { recordsPerSecond: RECORD_COUNT / seconds, fullRetries: sent.fullRetries, bytes: received.bytes };
}

export async function run(): Promise<BenchRow[]> {
  const ring = await startPair('ring');
  const port = await startPair('port');

  const ours: number[] = [];
  const baseline: number[] = [];
  let fullRetries = 0;
  let recordBytes = 0;
  try {
    for (let round = 0; round < WARM_UP_ROUNDS + ROUNDS; round++) {
      const ringRound = await runRound(ring);
      const portRound = await runRound(port);
      if (round < WARM_UP_ROUNDS) continue;

      ours.push(ringRound.recordsPerSecond);
      baseline.push(portRound.recordsPerSecond);
      fullRetries += ringRound.fullRetries;
      recordBytes = ringRound.bytes / RECORD_COUNT;
    }
  } finally {
    await Promise.all([ring.producer, ring.consumer, port.producer, port.consumer].map((worker) => worker.terminate()));
  }

  const oursMedian = quantile(ours, 0.5);
  const baselineMedian = quantile(baseline, 0.5);
  const ratio = oursMedian / baselineMedian;
  return [
    {
      id: '4',
      measure: 'records per second through the ring between two threads',
      ours: `${fmt(oursMedian / 1e6)} M records/s`,
      baseline: `${fmt(baselineMedian / 1e6)} M records/s (postMessage through a MessageChannel)`,
      ratio: fmt(ratio),
      target: `≥ ${TARGET_RATIO}`,
      pass: ratio >= TARGET_RATIO,
      notes:
        `medians of ${ROUNDS} interleaved rounds of ${RECORD_COUNT} encoded submissions of ${fmt(recordBytes)} bytes, ` +
        `after ${WARM_UP_ROUNDS} warm-up round each; ring capacity ${DEFAULT_RING_CAPACITY}, ` +
        `the producer retried a full ring ${fmt(fullRetries / ROUNDS)} times per round`,
    },
  ];
}

if (!isMainThread && (workerData as Partial<ThreadRole> | undefined)?.mark === ROLE_MARK) {
  await runThread(workerData as ThreadRole);
} else if (isMainThread && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(formatTable(await run()));
}
