/**
 * Row 3: the cost of one `TelemetrySink.submit()` call on the main thread,
 * against `MessagePort.postMessage` of the same submission object to a worker,
 * measured in interleaved rounds in one run. Run alone with
 * `node dist/bench/submit-cost.js`.
 *
 * Both receivers are worker threads that drain as fast as they can, and each
 * batch starts only once the previous one was drained, so `submit` measures the
 * send and never the drop path. The notes give three more figures: the
 * encoding alone, which bounds submit(), the drop path, and the cost of a lone
 * call that has to wake a sleeping receiver.
 */
import { MessageChannel, type MessagePort, isMainThread, Worker, workerData } from 'node:worker_threads';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';

import { CONSUMER_SLEEPING_INDEX } from '../src/channel/layout.js';
import {
  createRingBuffer,
  DEFAULT_RING_CAPACITY,
  MAX_RECORD_BYTES,
  readRingCounters,
  RingConsumer,
  RingProducer,
} from '../src/channel/ring.js';
import { createLogger, type Logger } from '../src/log/logger.js';
import { TelemetrySink } from '../src/telemetry/sink.js';
import { encodeSubmissionInto } from '../src/telemetry/submission-codec.js';
import type { Submission } from '../src/telemetry/submission.js';
import { fmt, formatTable, quantile, type BenchRow } from './table.js';

/** Submissions per timed batch: below the default capacity, so a drained ring never fills within one. */
const BATCH_SIZE = 48;
/** Rounds of one batch each way; medians are taken over them. */
const ROUNDS = 3_000;
/** Lone calls timed one by one, with the receiver asleep before each. */
const LONE_CALLS = 200;
/** Pause before a lone call, long enough for the receiving thread to go to sleep. */
const LONE_CALL_PAUSE_MS = 2;
const TARGET_RATIO = 0.25;

/** Marks the workerData of this file's receiver threads, so importing the file elsewhere starts nothing. */
const RECEIVER_MARK = 'submit-cost-receiver';

type ReceiverRole = { mark: typeof RECEIVER_MARK } & (
  | { role: 'ring-drainer'; buffer: SharedArrayBuffer }
  | { role: 'port-drainer'; port: MessagePort }
);

/** A runner end as the supervision hook submits it, with a typical log path. */
export function sampleSubmission(index: number): Submission {
  return {
    kind: 'runner-stderr',
    logPath: `/home/operator/.cache/exo/exo_log/runner_log/instance-7f3a/runner-${index % 100}/2026-05-28_14-03-07_123456Z.stderr.log`,
    instanceId: 'instance-7f3a',
    runnerId: `runner-${index % 100}`,
    exitCode: null,
    signal: 'SIGABRT',
    diagnosticKinds: ['metal.gpu_timeout', 'python.exception'],
    primaryCause: 'signal 6 (SIGABRT) after a Metal GPU timeout',
    endedAtMs: 1_780_000_000_000 + index,
  };
}

/** Returns a logger at the node's default level that writes nowhere, so logging cost is real but not I/O. */
function quietLogger(): Logger {
  const nowhere = new Writable({ write: (_chunk, _encoding, done) => done() });
  return createLogger({ verbosity: 0, format: 'human', consoleStream: nowhere });
}

/** Worker side: drains a ring until it is closed, or a port until it receives 'stop'. */
async function runReceiver(role: ReceiverRole): Promise<void> {
  if (role.role === 'port-drainer') {
    role.port.on('message', (message: unknown) => {
      if (message === 'sync') role.port.postMessage('synced');
      if (message === 'stop') role.port.close();
    });
    return;
  }
  const consumer = new RingConsumer(role.buffer);
  for (;;) {
    const result = await consumer.receive(1_000);
    if (result === 'closed') return;
  }
}

/** Resolves once the ring's consumer took every record sent so far. */
async function ringDrained(buffer: SharedArrayBuffer): Promise<void> {
  while (readRingCounters(buffer).depth > 0) await yieldToLoop();
}

/** Resolves once the port's receiver handled every message sent so far. */
function portDrained(port: MessagePort): Promise<void> {
  return new Promise((resolve) => {
    port.once('message', () => resolve());
    port.postMessage('sync');
  });
}

function nanosecondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start);
}

function startReceiver(role: ReceiverRole, transfer: MessagePort[] = []): Worker {
  return new Worker(new URL(import.meta.url), { workerData: role, transferList: transfer });
}

export async function run(): Promise<BenchRow[]> {
  const submissions = Array.from({ length: BATCH_SIZE }, (_, index) => sampleSubmission(index));
  const logger = quietLogger();

  const buffer = createRingBuffer(DEFAULT_RING_CAPACITY);
  const producer = new RingProducer(buffer);
  const sink = new TelemetrySink(producer, logger);
  const ringWorker = startReceiver({ mark: RECEIVER_MARK, role: 'ring-drainer', buffer });

  const { port1, port2 } = new MessageChannel();
  const portWorker = startReceiver({ mark: RECEIVER_MARK, role: 'port-drainer', port: port2 }, [port2]);
  await portDrained(port1);

  // Interleaved batches: the machine's noise hits both sides alike.
  const oursNs: number[] = [];
  const baselineNs: number[] = [];
  const header = new Int32Array(buffer);
  let batchesWakingConsumer = 0;
  // The encoding alone, into memory of this thread, shows which part of submit() bounds it.
  const encodeNs: number[] = [];
  const scratch = new Uint8Array(MAX_RECORD_BYTES);
  const scratchView = new DataView(scratch.buffer);
  for (let round = 0; round < ROUNDS; round++) {
    await ringDrained(buffer);
    if (Atomics.load(header, CONSUMER_SLEEPING_INDEX) === 1) batchesWakingConsumer += 1;
    let start = process.hrtime.bigint();
    for (let i = 0; i < BATCH_SIZE; i++) sink.submit(submissions[i]!);
    oursNs.push(nanosecondsSince(start) / BATCH_SIZE);

    await portDrained(port1);
    start = process.hrtime.bigint();
    for (let i = 0; i < BATCH_SIZE; i++) port1.postMessage(submissions[i]!);
    baselineNs.push(nanosecondsSince(start) / BATCH_SIZE);

    start = process.hrtime.bigint();
    for (let i = 0; i < BATCH_SIZE; i++) encodeSubmissionInto(submissions[i]!, scratch, scratchView);
    encodeNs.push(nanosecondsSince(start) / BATCH_SIZE);
  }
  await ringDrained(buffer);
  await portDrained(port1);
  const afterBatches = readRingCounters(buffer);

  // A lone call, as when one runner ends: the receiver is asleep and must be woken.
  const loneOursNs: number[] = [];
  const loneBaselineNs: number[] = [];
  for (let call = 0; call < LONE_CALLS; call++) {
    await new Promise((resolve) => setTimeout(resolve, LONE_CALL_PAUSE_MS));
    let start = process.hrtime.bigint();
    sink.submit(submissions[call % BATCH_SIZE]!);
    loneOursNs.push(nanosecondsSince(start));

    await new Promise((resolve) => setTimeout(resolve, LONE_CALL_PAUSE_MS));
    start = process.hrtime.bigint();
    port1.postMessage(submissions[call % BATCH_SIZE]!);
    loneBaselineNs.push(nanosecondsSince(start));
  }

  sink.close();
  port1.postMessage('stop');
  port1.close();
  await Promise.all([ringWorker.terminate(), portWorker.terminate()]);

  const dropNs = measureDropPath(submissions, logger);

  const ours = quantile(oursNs, 0.5);
  const baseline = quantile(baselineNs, 0.5);
  const ratio = ours / baseline;
  return [
    {
      id: '3',
      measure: 'submit() median cost per call',
      ours: `${fmt(ours)} ns`,
      baseline: `${fmt(baseline)} ns (MessagePort.postMessage of the same object)`,
      ratio: fmt(ratio),
      target: `≤ ${TARGET_RATIO}`,
      pass: ratio <= TARGET_RATIO,
      notes:
        `medians of ${ROUNDS} interleaved batches of ${BATCH_SIZE}, ring capacity ${DEFAULT_RING_CAPACITY}, ` +
        `${afterBatches.droppedFull} dropped while measuring, ring consumer asleep at the start of ${batchesWakingConsumer} batches; ` +
        `of each submit, encoding alone (string concatenation and TextEncoder.encodeInto) takes ${fmt(quantile(encodeNs, 0.5))} ns; ` +
        `drop path (ring full) ${fmt(dropNs)} ns; ` +
        `lone call waking a sleeping receiver: submit ${fmt(quantile(loneOursNs, 0.5))} ns, ` +
        `postMessage ${fmt(quantile(loneBaselineNs, 0.5))} ns`,
    },
  ];
}

/** Returns the median cost of a submit into a full ring: encode attempt skipped, drop counted. */
function measureDropPath(submissions: Submission[], logger: Logger): number {
  const buffer = createRingBuffer(1);
  const sink = new TelemetrySink(new RingProducer(buffer), logger);
  sink.submit(submissions[0]!);

  const perCallNs: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < BATCH_SIZE; i++) sink.submit(submissions[i]!);
    perCallNs.push(nanosecondsSince(start) / BATCH_SIZE);
  }
  return quantile(perCallNs, 0.5);
}

if (!isMainThread && (workerData as Partial<ReceiverRole> | undefined)?.mark === RECEIVER_MARK) {
  await runReceiver(workerData as ReceiverRole);
} else if (isMainThread && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(formatTable(await run()));
}
