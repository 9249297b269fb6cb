import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';

import * as Comlink from 'comlink';

import { createRingBuffer, readRingCounters, RingProducer, type RingCounters } from '../channel/ring.js';
import { describeError } from '../errors.js';
import type { LogFormat, Logger } from '../log/logger.js';
import { restartDelayMs, type RestartPolicy } from '../supervision/restart-policy.js';
import type { TelemetryConfig } from './config.js';
import { TelemetrySink } from './sink.js';
import type { Submission } from './submission.js';
import type { DrainOutcome, UploaderControl, UploaderStats, UploaderWorkerData } from './uploader-control.js';

/** The compiled uploader thread entry, found from this file's place in dist/src/telemetry/. */
const UPLOADER_ENTRY = new URL('../../workers/uploader.js', import.meta.url);

/**
 * Memory limits of the uploader thread. Uploads stream from disk, so the heap
 * stays small; a leak ends the thread, which is restarted, instead of the node.
 */
const UPLOADER_RESOURCE_LIMITS = { maxOldGenerationSizeMb: 192, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 };

/** Backoff between restarts of an uploader thread that died. */
const UPLOADER_RESTART_POLICY: RestartPolicy = { initialDelayMs: 1_000, maxDelayMs: 60_000, healthyUptimeMs: 60_000 };

/** Extra time the thread's drain call gets past its deadline, for the reply to cross back. */
const DRAIN_REPLY_SLACK_MS = 200;
/**
 * Time the thread gets to complete `close` after the drain, before it is terminated.
 * With DRAIN_REPLY_SLACK_MS it keeps shutdown within the drain deadline plus one second.
 */
const CLOSE_TIMEOUT_MS = 700;
/** A `stats` call that gets no response in this time returns the ring counters alone. */
const STATS_TIMEOUT_MS = 1_000;

export interface TelemetryServiceOptions extends TelemetryConfig {
  logDir: string;
  logger: Logger;
  /** Logging settings of the uploader thread: the node's console verbosity and format, and the node log file. */
  logging?: { verbosity: number; format: LogFormat; file?: string };
  /** Entry script of the uploader thread. Tests pass a fixture that fails on purpose; the node uses the default. */
  uploaderEntry?: URL;
}

export interface TelemetryStats {
  ring: RingCounters;
  /** Undefined when the uploader thread is down or did not respond in time. */
  uploader: UploaderStats | undefined;
  uploaderRestarts: number;
}

/** One running uploader thread and its control channel. */
interface UploaderThread {
  worker: Worker;
  control: Comlink.Remote<UploaderControl>;
  port: MessagePort;
  startedAtMs: number;
}

/**
 * The main thread's side of telemetry. It owns the submission ring and the
 * uploader thread, restarts that thread with backoff if it dies, and bounds
 * every wait on it. The ring lives in a SharedArrayBuffer, so submissions made
 * while the thread is down wait there (or are dropped and counted when it is full).
 */
export class TelemetryService {
  private readonly ring: SharedArrayBuffer;
  private readonly producer: RingProducer;
  private readonly sink: TelemetrySink;
  private thread: UploaderThread | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Deaths since the last thread that stayed up for the healthy uptime. */
  private consecutiveDeaths = 0;
  private restarts = 0;
  private stopping = false;
  private shutdownPromise: Promise<void> | undefined;

  constructor(private readonly options: TelemetryServiceOptions) {
    this.ring = createRingBuffer(options.channelCapacity);
    this.producer = new RingProducer(this.ring);
    this.sink = new TelemetrySink(this.producer, options.logger);
  }

  /** Starts the uploader thread. Returns at once: nothing here waits on the thread. */
  start(): void {
    if (this.thread !== undefined || this.stopping) return;
    this.spawnThread();
  }

  /** Hands a runner end to the uploader. Never waits and never throws; see TelemetrySink. */
  submit(submission: Submission): boolean {
    return this.sink.submit(submission);
  }

  /** Returns the ring counters, and the uploader's own counters if it responds within a bound. */
  async stats(): Promise<TelemetryStats> {
    const ring = readRingCounters(this.ring);
    const thread = this.thread;
    let uploader: UploaderStats | undefined;
    if (thread !== undefined) {
      uploader = await withTimeout(thread.control.stats(), STATS_TIMEOUT_MS).catch(() => undefined);
    }
    return { ring, uploader, uploaderRestarts: this.restarts };
  }

  /**
   * Closes the ring, lets the uploader drain until the drain deadline, then stops
   * the thread. Resolves within the drain deadline plus one second, even
   * when the server hangs or the thread does not respond. Idempotent.
   */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.runShutdown();
    return this.shutdownPromise;
  }

  private async runShutdown(): Promise<void> {
    const { logger, drainTimeoutMs } = this.options;
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.sink.close();

    // A thread that died and waits out its restart backoff left records in the ring that
    // no outbox has yet. A fresh thread records them there, within the same deadline.
    if (this.thread === undefined && readRingCounters(this.ring).depth > 0) {
      logger.info('starting an uploader thread to record what is left in the channel', { ring: readRingCounters(this.ring) });
      this.spawnThread();
    }
    const thread = this.thread;
    if (thread === undefined) {
      logger.info('telemetry stopped, uploader thread was not running', { ring: readRingCounters(this.ring) });
      return;
    }
    const outcome = await withTimeout(thread.control.drain(drainTimeoutMs), drainTimeoutMs + DRAIN_REPLY_SLACK_MS).catch(
      (error: unknown) => {
        logger.warn('telemetry drain did not finish', { error: describeError(error), drainTimeoutMs });
        return undefined;
      },
    );
    await withTimeout(thread.control.close(), CLOSE_TIMEOUT_MS).catch(() => undefined);
    this.thread = undefined;
    thread.port.close();
    await thread.worker.terminate();
    logDrainOutcome(logger, outcome, drainTimeoutMs, readRingCounters(this.ring));
  }

  private spawnThread(): void {
    const { logger } = this.options;
    const { port1, port2 } = new MessageChannel();
    const workerData: UploaderWorkerData = {
      ring: this.ring,
      controlPort: port2,
      config: toConfig(this.options),
      logDir: this.options.logDir,
      logging: this.options.logging ?? { verbosity: 0, format: 'human' },
    };
    const worker = new Worker(this.options.uploaderEntry ?? UPLOADER_ENTRY, {
      workerData,
      transferList: [port2],
      resourceLimits: UPLOADER_RESOURCE_LIMITS,
      name: 'exo-uploader',
    });
    const thread: UploaderThread = {
      worker,
      control: Comlink.wrap<UploaderControl>(port1 as unknown as Comlink.Endpoint),
      port: port1 as unknown as MessagePort,
      startedAtMs: Date.now(),
    };
    this.thread = thread;
    logger.info('uploader thread started', { threadId: worker.threadId, mode: this.options.mode, restarts: this.restarts });

    let lastError: unknown;
    worker.on('error', (error) => {
      // An uncaught exception or the memory limit (ERR_WORKER_OUT_OF_MEMORY). 'exit' follows.
      lastError = error;
      logger.error('uploader thread failed', { threadId: worker.threadId, error: describeError(error) });
    });
    worker.on('exit', (exitCode) => {
      if (this.thread !== thread) return;
      this.thread = undefined;
      thread.port.close();
      if (this.stopping) return;
      this.scheduleRestart(thread, exitCode, lastError);
    });
  }

  private scheduleRestart(thread: UploaderThread, exitCode: number, error: unknown): void {
    const { logger } = this.options;
    const uptimeMs = Date.now() - thread.startedAtMs;
    if (uptimeMs >= UPLOADER_RESTART_POLICY.healthyUptimeMs) this.consecutiveDeaths = 0;
    this.consecutiveDeaths += 1;
    const delayMs = restartDelayMs(this.consecutiveDeaths, UPLOADER_RESTART_POLICY);
    logger.warn('uploader thread exited unexpectedly, restarting after backoff', {
      threadId: thread.worker.threadId,
      exitCode,
      cause: error === undefined ? `exit code ${exitCode}` : describeError(error),
      uptimeMs,
      delayMs,
    });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.restarts += 1;
      try {
        this.spawnThread();
      } catch (spawnError) {
        // new Worker can throw at once (no memory, a policy refusing threads). Supervision goes on without telemetry.
        logger.error('cannot start the uploader thread; telemetry stays off until the node restarts', { error: describeError(spawnError) });
      }
    }, delayMs);
    // A pending restart alone must not keep a node that is otherwise done alive.
    this.restartTimer.unref();
  }
}

function toConfig(options: TelemetryServiceOptions): TelemetryConfig {
  return {
    mode: options.mode,
    apiUrl: options.apiUrl,
    channelCapacity: options.channelCapacity,
    timeoutMs: options.timeoutMs,
    drainTimeoutMs: options.drainTimeoutMs,
    redact: options.redact,
    maxAttemptsPerReport: options.maxAttemptsPerReport,
    runnerLogKeep: options.runnerLogKeep,
  };
}

function logDrainOutcome(logger: Logger, outcome: DrainOutcome | undefined, drainTimeoutMs: number, ring: RingCounters): void {
  if (outcome === undefined) {
    logger.warn('telemetry stopped without a drain result; undelivered reports stay in the outbox', { drainTimeoutMs, ring });
  } else if (outcome.drained && outcome.pending === 0) {
    logger.info('telemetry stopped, every report handled', { waitedMs: outcome.waitedMs, ring });
  } else if (outcome.drained) {
    logger.warn(`telemetry stopped; ${outcome.pending} reports stay pending in the outbox for the next start, or send them with "exo telemetry upload --all"`, {
      pending: outcome.pending,
      ring,
    });
  } else {
    logger.warn(`telemetry drain timed out after ${outcome.waitedMs} ms; ${outcome.pending} reports stay pending in the outbox`, {
      pending: outcome.pending,
      ring,
    });
  }
}

/** Resolves like `promise`, or rejects with a timeout error after `timeoutMs`. */
function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the uploader thread did not respond within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
