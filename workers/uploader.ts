/**
 * Uploader thread entry. It takes submissions out of the ring, hands them to the
 * upload engine, and serves the main thread's control calls (stats, drain,
 * close) through comlink. Only this thread reads logs, hashes and talks HTTP.
 */
import os from 'node:os';
import { workerData } from 'node:worker_threads';

import * as Comlink from 'comlink';

import { readRingCounters, RingConsumer } from '../src/channel/ring.js';
import { describeError } from '../src/errors.js';
import { createLogger } from '../src/log/logger.js';
import { parseReportId } from '../src/telemetry/outbox/report-id.js';
import { pruneRunnerLogs } from '../src/telemetry/outbox/retention.js';
import { decodeSubmission } from '../src/telemetry/submission-codec.js';
import { ReportUploader } from '../src/telemetry/upload/report-uploader.js';
import type { DrainOutcome, UploaderControl, UploaderWorkerData } from '../src/telemetry/uploader-control.js';

/** How long one wait on the ring lasts before the loop checks its state again. */
const RECEIVE_WAIT_MS = 1_000;
/** How often a full engine is checked for room before the next record is taken. */
const CAPACITY_POLL_MS = 50;

const data = workerData as UploaderWorkerData;
const logger = createLogger({ ...data.logging, defaultMeta: { thread: 'uploader' } });
const consumer = new RingConsumer(data.ring);
const uploader = new ReportUploader(
  {
    ...data.config,
    logDir: data.logDir,
    readChannelDrops: () => {
      const counters = readRingCounters(data.ring);
      return counters.droppedFull + counters.droppedClosed;
    },
  },
  logger,
);

/** Runners whose old logs are being pruned now, so two prunes of one folder never overlap. */
const pruning = new Set<string>();

/**
 * Keeps at most `runnerLogKeep` logs per runner once a report of that runner
 * reached its outcome. Retention runs here, not on the main thread, because only
 * this thread reads the outbox, where pending reports are recorded. Their logs are never deleted.
 */
function maybePruneLogs(reportId: string): void {
  const parts = parseReportId(reportId);
  const outbox = uploader.outboxStore;
  if (parts === undefined || outbox === undefined) return;
  const key = `${parts.instanceId}/${parts.runnerId}`;
  if (pruning.has(key)) return;
  pruning.add(key);
  pruneRunnerLogs(data.logDir, parts.instanceId, parts.runnerId, data.config.runnerLogKeep, outbox, {
    telemetry: data.config.mode === 'upload',
    logger,
  })
    .then((result) => {
      if (result.deleted.length > 0) logger.info('old runner logs deleted', { instanceId: parts.instanceId, runnerId: parts.runnerId, deleted: result.deleted.length, keep: data.config.runnerLogKeep });
    })
    .catch((error: unknown) => {
      logger.warn('pruning old runner logs failed', { instanceId: parts.instanceId, runnerId: parts.runnerId, error: describeError(error) });
    })
    .finally(() => pruning.delete(key));
}

uploader.onReportOutcome((reportId) => maybePruneLogs(reportId));

let closing = false;
/** Settles when the consume loop has ended: the ring was closed and emptied, or the thread is closing. */
let consumeLoop: Promise<void> = Promise.resolve();

/** Takes one record out of the ring and hands it to the engine. A malformed record is logged and skipped. */
function takeRecord(record: Uint8Array): void {
  try {
    uploader.enqueue(decodeSubmission(record));
  } catch (error) {
    logger.warn('skipped a malformed submission record', { error: describeError(error), bytes: record.length });
  }
}

/**
 * Moves records from the ring into the engine while the engine has room, so
 * backpressure stays in the bounded ring, where drops are counted.
 */
async function consume(): Promise<void> {
  while (!closing) {
    if (!uploader.hasCapacity()) {
      await new Promise((resolve) => setTimeout(resolve, CAPACITY_POLL_MS));
      continue;
    }
    const result = await consumer.receive(RECEIVE_WAIT_MS);
    if (result === 'closed') return;
    if (result === 'timeout') continue;
    takeRecord(result);
  }
}

const control: UploaderControl = {
  stats: () => uploader.stats(),

  async drain(deadlineMs: number): Promise<DrainOutcome> {
    const startedAtMs = Date.now();
    // The producer is closed: whatever is left in the ring goes into the outbox now,
    // since it is bounded by the ring's capacity, then uploads run until the deadline.
    let record = consumer.tryReceive();
    while (record !== null) {
      takeRecord(record);
      record = consumer.tryReceive();
    }
    const outcome = await uploader.drain(Math.max(0, deadlineMs - (Date.now() - startedAtMs)));
    return { ...outcome, waitedMs: Date.now() - startedAtMs };
  },

  async close(): Promise<void> {
    closing = true;
    await uploader.close();
    await consumeLoop;
    logger.info('uploader thread stopped', uploader.stats());
  },
};

Comlink.expose(control, data.controlPort as unknown as Comlink.Endpoint);

/**
 * Lowers this thread's CPU priority so hashing and redaction yield the two or so
 * cores to the supervising main thread. On Linux, setpriority on pid 0 changes only
 * the calling thread, and threads it starts later (the piscina hash thread)
 * inherit it. Elsewhere it would lower the whole node, so it is skipped there.
 */
function lowerThreadPriority(): void {
  if (process.platform !== 'linux') return;
  try {
    os.setPriority(0, os.constants.priority.PRIORITY_LOW);
  } catch (error) {
    logger.debug('could not lower the uploader thread priority', { error: describeError(error) });
  }
}

async function main(): Promise<void> {
  lowerThreadPriority();
  await uploader.start();
  logger.debug('uploader thread consuming', { mode: data.config.mode });
  consumeLoop = consume();
  await consumeLoop;
}

main().catch((error: unknown) => {
  // Rethrown so the thread ends with an 'error' event: the main thread logs it and starts a new one.
  logger.error('uploader thread failed', { error: describeError(error) });
  throw error;
});
