import { promises as fs, realpathSync } from 'node:fs';

import { describeError, ExoError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { RepeatLimiter } from '../../log/repeat-limiter.js';
import { isValidId } from '../../node/log-dir.js';
import { retryDelayMs } from '../backoff.js';
import { redactText } from '../redact/redactor.js';
import { cleanStaleTempFiles } from '../outbox/atomic-write.js';
import { Outbox, submissionOf } from '../outbox/outbox.js';
import { logPathForReportId, reportIdFor } from '../outbox/report-id.js';
import { writeRunStats, type RunStats } from '../outbox/run-stats.js';
import type { OutboxEntry, PayloadFacts } from '../outbox/types.js';
import type { Submission } from '../submission.js';
import { AttemptWindow } from './attempt-window.js';
import { runAttempt, runDryRun, type AttemptContext, type AttemptOutcome, type AttemptReport } from './attempt.js';
import { resolveUploaderConfig, type ResolvedUploaderConfig, type UploaderConfig } from './config.js';
import { dispositionOf } from './disposition.js';
import { SHUTDOWN_CODE, type UploadFailure } from './failure.js';
import { createPiscinaHasher, type FileHasher } from './hasher.js';
import { PAYLOAD_SUFFIX } from './payload.js';
import { RetryTimers } from './retry-timers.js';

/** Counters of one ReportUploader since it was created. */
export interface UploaderStats {
  /** Submissions taken in by `enqueue`. */
  received: number;
  /** Reports delivered (PUT returned 2xx). */
  sent: number;
  /** Attempts that failed, at any step. */
  failed: number;
  /** Retries scheduled after a failed attempt. */
  retried: number;
  /** Reports with nothing to send (empty log) or already delivered or rejected. */
  skipped: number;
  /** Reports logged in dry-run mode. */
  dryRun: number;
  /** Payload bytes of delivered reports. */
  bytesSent: number;
  /** Reports pending in the outbox. */
  pending: number;
  /** Reports being processed now. */
  inFlight: number;
  /** Reports refused for good: by the server, or because their path is unsafe. */
  rejected: number;
  /** Reports whose log was deleted before upload. */
  gone: number;
  /** Submissions dropped because the uploader was closed. */
  dropped: number;
}

export interface DrainResult {
  /** True when nothing was left queued or in flight at the end. */
  drained: boolean;
  /** Reports left pending in the outbox for the next start. */
  pending: number;
  /** Requests aborted at the deadline; their reports stay pending. */
  abortedInFlight: number;
  waitedMs: number;
}

/** Final state of a report in this run, passed to onReportOutcome listeners. */
export type ReportOutcome = 'delivered' | 'rejected' | 'gone' | 'skipped' | 'dry-run' | 'pending';

/** A report kept in memory by the engine. */
interface TrackedReport extends AttemptReport {
  /** `ready`: in the queue; `running`: an attempt runs; `waiting`: a retry timer runs. */
  phase: 'ready' | 'running' | 'waiting';
  /** Network attempts in this run, against maxAttemptsPerReport. */
  attemptsThisRun: number;
  /** How many of attemptsThisRun the outbox entry already counts. */
  attemptsRecorded: number;
  /** Set while an attempt runs; aborted by drain's deadline and by close. */
  controller?: AbortController;
}

/** Concurrent `enqueue` calls still writing their outbox entry; past it, hasCapacity turns false. */
const MAX_ACCEPTING = 8;
/** Maximum wait in close for aborted attempts to finish their outbox writes, in milliseconds. */
const CLOSE_SETTLE_MS = 500;
/** Failure warnings per step and status (or code) per minute; the rest are counted and reported once. */
const FAILURE_WARNINGS_PER_MINUTE = 5;

/**
 * Uploads runner stderr logs in the uploader thread. Per report it checks the
 * path, stats, redacts, hashes (in a piscina thread), presigns and PUTs.
 * Retries stay inside a per-report budget and a global attempt rate. A durable
 * outbox keeps each accepted report until it is delivered (or dropped past the
 * outbox limits, with a warning). A report recorded as delivered is never sent
 * again, but a crash between the PUT's 2xx and that record sends it twice.
 *
 * `enqueue` never throws and returns at once. Failures are logged as warnings
 * with the instance and runner ids, the step and the HTTP status, and the
 * report stays in the outbox.
 */
export class ReportUploader {
  private readonly config: ResolvedUploaderConfig;
  private outbox: Outbox | undefined;
  private hasher: FileHasher | undefined;
  private startPromise: Promise<void> | undefined;
  private closePromise: Promise<void> | undefined;
  /** Set by close; from then on enqueue drops. */
  private closeRequested = false;
  private readonly startedAtMs = Date.now();
  /** The log dir with symlinks resolved, so a submission may name its log either way. */
  private logDirReal: string | undefined;

  private readonly tracked = new Map<string, TrackedReport>();
  private readonly readyQueue: string[] = [];
  /** Reports that ended in this run without delivery (budget spent, held); the background requeue passes them by. */
  private readonly finishedThisRun = new Set<string>();
  private running = 0;
  /** Submissions taken by enqueue whose outbox entry is not written yet. */
  private accepting = 0;
  private acceptChain: Promise<void> = Promise.resolve();
  private readonly retryTimers = new RetryTimers();
  private readonly attemptWindow: AttemptWindow;
  private requeueTimer: ReturnType<typeof setTimeout> | undefined;
  /** Called on every change of the queues, for drain and close. */
  private readonly stateListeners = new Set<() => void>();
  private readonly outcomeListeners = new Set<(id: string, outcome: ReportOutcome) => void>();
  private readonly warnings = new RepeatLimiter(FAILURE_WARNINGS_PER_MINUTE, 60_000);

  private readonly counters = {
    received: 0,
    sent: 0,
    failed: 0,
    retried: 0,
    skipped: 0,
    dryRun: 0,
    bytesSent: 0,
    rejected: 0,
    gone: 0,
    dropped: 0,
  };

  /** Throws UsageError ERR_INVALID_UPLOADER_CONFIG naming the option when a value is invalid. */
  constructor(
    config: UploaderConfig,
    private readonly logger: Logger,
  ) {
    this.config = resolveUploaderConfig(config);
    this.attemptWindow = new AttemptWindow(this.config.attemptsPerMinute, 60_000);
  }

  /**
   * Opens the outbox, removes temporary files left by a crash, and (in upload
   * mode) starts queuing the pending reports again in the background, one per
   * `requeueIntervalMs`. Never waits on the network. Idempotent.
   */
  start(): Promise<void> {
    this.startPromise ??= this.open();
    return this.startPromise;
  }

  /**
   * Takes a submission. Never throws and returns at once. The report is
   * recorded as pending in the outbox before any network request, then
   * processed. After close, the submission is dropped and counted.
   */
  enqueue(submission: Submission): void {
    if (this.closeRequested) {
      this.counters.dropped += 1;
      this.logger.debug('telemetry submission dropped: the uploader is closed', { dropped: this.counters.dropped });
      return;
    }
    this.counters.received += 1;
    this.accepting += 1;
    // Submissions are recorded one after another, so reports are queued in the order they arrived.
    this.acceptChain = this.acceptChain
      .then(() => this.accept(submission))
      .catch((error: unknown) => {
        this.logger.warn('telemetry submission not recorded', { ...idsOf(submission), error: describeError(error) });
      })
      .finally(() => {
        this.accepting -= 1;
        this.pump();
      });
  }

  /**
   * Returns true while the engine can take another submission without growing
   * its memory: the uploader thread takes records out of the ring only then,
   * so backpressure stays in the bounded ring.
   */
  hasCapacity(): boolean {
    if (this.closeRequested || this.accepting >= MAX_ACCEPTING) return false;
    // In upload mode a report past maxQueued waits in the outbox; a dry run has no outbox backlog.
    return this.config.mode === 'upload' || this.tracked.size + this.accepting < this.config.maxQueued;
  }

  stats(): UploaderStats {
    return {
      ...this.counters,
      pending: this.outbox?.pendingCount() ?? 0,
      inFlight: this.running,
    };
  }

  /**
   * Waits until nothing is queued, in flight, or due to retry before the
   * deadline, but at most `deadlineMs` milliseconds from now. At the deadline
   * the requests in flight are aborted and their reports stay pending. Resolves
   * by the deadline even when the server never responds.
   */
  async drain(deadlineMs: number): Promise<DrainResult> {
    const startedAtMs = Date.now();
    const deadlineAtMs = startedAtMs + Math.max(0, deadlineMs);

    const drained = await this.waitFor(() => this.isIdle(deadlineAtMs), Math.max(0, deadlineMs));
    const abortedInFlight = drained ? 0 : this.abortRunning('drain deadline reached');
    const result: DrainResult = {
      drained,
      pending: this.outbox?.pendingCount() ?? 0,
      abortedInFlight,
      waitedMs: Date.now() - startedAtMs,
    };

    this.logger.info('telemetry uploader drained', { ...result, deadlineMs });
    void this.saveRunStats();
    return result;
  }

  /**
   * Stops the engine: cancels retry timers and the background requeue, aborts
   * requests in flight (their reports stay pending), stops the hashing thread
   * and writes the run counters. Idempotent; after it, enqueue drops.
   */
  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  /** Calls `listener` each time a report ends in this run. Returns a function that removes it. */
  onReportOutcome(listener: (id: string, outcome: ReportOutcome) => void): () => void {
    this.outcomeListeners.add(listener);
    return () => this.outcomeListeners.delete(listener);
  }

  /** The outbox, once start has resolved. */
  get outboxStore(): Outbox | undefined {
    return this.outbox;
  }

  /**
   * Queues pending reports now, bypassing the background rate, for
   * `exo telemetry upload`. Returns the ids queued. Unknown, delivered and
   * rejected ids are passed by.
   */
  async queuePending(ids: readonly string[]): Promise<string[]> {
    await this.start();
    const queued: string[] = [];
    for (const id of ids) {
      const entry = await this.outbox!.reopen(id);
      if (entry === undefined || entry.state !== 'pending' || this.tracked.has(id)) continue;
      this.finishedThisRun.delete(id);
      this.track(id, { ...submissionOf(entry), logPath: logPathForReportId(this.config.logDir, id) });
      queued.push(id);
    }
    this.pump();
    return queued;
  }

  // Private helpers, in the order a report meets them.

  private async open(): Promise<void> {
    const { logDir, tempDir, mode } = this.config;
    this.outbox = await Outbox.open(logDir, this.logger, this.config.outboxLimits);
    try {
      this.logDirReal = realpathSync(logDir);
    } catch {
      this.logDirReal = undefined;
    }

    await fs.mkdir(tempDir, { recursive: true, mode: 0o700 });
    const removed = await cleanStaleTempFiles(tempDir, PAYLOAD_SUFFIX, 60 * 60 * 1000, Date.now());
    if (removed.length > 0) this.logger.debug('telemetry removed stale payload copies', { count: removed.length });

    if (this.closeRequested) return;
    this.hasher = createPiscinaHasher();
    const pending = this.outbox.pendingCount();
    this.logger.info('telemetry uploader started', {
      mode,
      apiUrl: this.config.apiUrl,
      redact: this.config.redact,
      pending,
    });
    if (mode === 'upload' && this.config.backgroundRequeue && pending > 0) {
      this.logger.info('telemetry pending reports queued again in the background', { pending, intervalMs: this.config.requeueIntervalMs });
      this.scheduleRequeue();
    }
  }

  private async accept(submission: Submission): Promise<void> {
    await this.start();
    const id = this.identify(submission);
    if (id === undefined) return;
    if (this.tracked.has(id)) {
      this.logger.debug('telemetry report already queued', { reportId: id });
      return;
    }

    if (this.config.mode === 'dry-run') {
      this.track(id, submission);
      return;
    }

    const { entry, created } = await this.outbox!.add(id, submission, 'pending');
    // The background requeue may have taken the new entry while it was being written.
    if (this.tracked.has(id)) return;
    if (!created && entry.state !== 'pending') {
      this.counters.skipped += 1;
      this.logger.debug('telemetry report not sent again', { reportId: id, state: entry.state });
      this.emitOutcome(id, entry.state);
      return;
    }
    if (this.closeRequested || this.finishedThisRun.has(id)) return;
    if (this.config.backgroundRequeue && this.tracked.size >= this.config.maxQueued) {
      // The entry waits in the outbox; the background requeue takes it when there is room.
      this.scheduleRequeue();
      return;
    }
    this.track(id, submission);
  }

  /** Returns the report id of a submission, or undefined after logging why it cannot be uploaded. */
  private identify(submission: Submission): string | undefined {
    try {
      if (submission?.kind !== 'runner-stderr' || !isValidId(submission.instanceId) || !isValidId(submission.runnerId)) {
        throw new ExoError('ERR_INVALID_SUBMISSION', 'invalid submission: expected kind runner-stderr with valid instance and runner ids');
      }
      const id = this.reportIdOf(submission.logPath);
      const [instanceId, runnerId] = id.split('/');
      if (instanceId !== submission.instanceId || runnerId !== submission.runnerId) {
        throw new ExoError('ERR_UNSAFE_LOG_PATH', `log path ${JSON.stringify(submission.logPath)} is not in the folder of instance ${submission.instanceId} runner ${submission.runnerId}`);
      }
      return id;
    } catch (error) {
      this.counters.rejected += 1;
      this.logger.warn('telemetry submission rejected', { ...idsOf(submission), step: 'path', error: describeError(error) });
      return undefined;
    }
  }

  private reportIdOf(logPath: string): string {
    try {
      return reportIdFor(this.config.logDir, logPath);
    } catch (error) {
      if (this.logDirReal === undefined || this.logDirReal === this.config.logDir) throw error;
      return reportIdFor(this.logDirReal, logPath);
    }
  }

  private track(id: string, submission: Submission): void {
    this.tracked.set(id, { id, submission, phase: 'ready', attemptsThisRun: 0, attemptsRecorded: 0 });
    this.readyQueue.push(id);
    this.pump();
  }

  /** Starts attempts while a slot is free and a report is ready. */
  private pump(): void {
    while (!this.closeRequested && this.running < this.config.concurrency && this.readyQueue.length > 0) {
      const report = this.tracked.get(this.readyQueue.shift()!);
      if (report === undefined || report.phase !== 'ready') continue;
      report.phase = 'running';
      report.controller = new AbortController();
      this.running += 1;
      this.process(report)
        .catch((error: unknown) => {
          this.logger.warn('telemetry report processing failed', { reportId: report.id, error: describeError(error) });
        })
        .finally(() => {
          this.running -= 1;
          report.controller = undefined;
          this.pump();
        });
    }
    this.notifyStateChange();
  }

  private async process(report: TrackedReport): Promise<void> {
    const signal = report.controller!.signal;
    const context = this.attemptContext(report);
    const outcome = this.config.mode === 'dry-run' ? await runDryRun(context, report, signal) : await runAttempt(context, report, signal);
    await this.settle(report, outcome);
  }

  private attemptContext(report: TrackedReport): AttemptContext {
    return {
      config: this.config,
      hasher: this.hasher!,
      now: () => Date.now(),
      beginNetworkAttempt: async (signal) => {
        await this.waitForAttemptSlot(signal);
        report.attemptsThisRun += 1;
      },
      // The primary cause quotes stderr lines, so it gets the same redaction as the log.
      redactCause: (text) => (this.config.redact ? redactText(text, this.config.redactOptions).output.toString('utf8') : text),
    };
  }

  /** Waits, with a timer cancelled by `signal`, until the global attempt limit lets another attempt start. */
  private async waitForAttemptSlot(signal: AbortSignal): Promise<void> {
    for (;;) {
      const delayMs = this.attemptWindow.delayMs(Date.now());
      if (delayMs === 0) {
        this.attemptWindow.record(Date.now());
        return;
      }
      this.logger.debug('telemetry attempt limit reached, waiting', { delayMs, attemptsPerMinute: this.config.attemptsPerMinute });
      await sleep(delayMs, signal);
    }
  }

  /** Records how an attempt ended, in the outbox and the counters, and decides what comes next. */
  private async settle(report: TrackedReport, outcome: AttemptOutcome): Promise<void> {
    const ids = { reportId: report.id, instanceId: report.submission.instanceId, runnerId: report.submission.runnerId };
    const outbox = this.outbox!;
    if (this.config.mode === 'dry-run' && (outcome.kind === 'skipped' || outcome.kind === 'gone' || outcome.kind === 'rejected')) {
      // A dry run records no pending entry, so one is made here for `exo telemetry list`.
      await outbox.add(report.id, report.submission, outcome.kind);
    }

    switch (outcome.kind) {
      case 'delivered':
        await outbox.update(report.id, {
          state: 'delivered',
          key: outcome.key,
          deliveredAtMs: Date.now(),
          payload: outcome.payload,
          attempts: this.attemptsTotal(report),
          lastError: undefined,
        });
        this.counters.sent += 1;
        this.counters.bytesSent += outcome.payload.size;
        this.logger.info('telemetry report delivered', { ...ids, key: outcome.key, size: outcome.payload.size, truncated: outcome.payload.truncated });
        return this.finish(report, 'delivered');

      case 'skipped':
        await outbox.update(report.id, { state: 'skipped', reason: outcome.reason });
        this.counters.skipped += 1;
        this.logger.debug('telemetry report skipped', { ...ids, reason: outcome.reason });
        return this.finish(report, 'skipped');

      case 'gone':
        await outbox.update(report.id, { state: 'gone', reason: outcome.reason });
        this.counters.gone += 1;
        this.logger.warn('telemetry log missing, report marked gone', { ...ids, step: 'stat', error: outcome.reason });
        return this.finish(report, 'gone');

      case 'rejected':
        await outbox.update(report.id, { state: 'rejected', reason: outcome.reason, lastError: lastErrorOf(outcome.failure) });
        this.counters.rejected += 1;
        this.logger.warn('telemetry report rejected', { ...ids, step: outcome.failure.step, status: outcome.failure.status, error: outcome.reason });
        return this.finish(report, 'rejected');

      case 'dry-run': {
        const { entry } = await outbox.add(report.id, report.submission, 'dry-run');
        if (entry.state === 'dry-run') await outbox.update(report.id, { payload: outcome.payload });
        this.counters.dryRun += 1;
        this.logger.info('telemetry dry-run: would upload', {
          ...ids,
          path: report.submission.logPath,
          size: outcome.payload.size,
          sha256: outcome.payload.sha256,
          redactions: outcome.payload.redactionCounts,
        });
        return this.finish(report, 'dry-run');
      }

      case 'failed':
        return this.settleFailure(report, outcome.failure, outcome.payload);
    }
  }

  private async settleFailure(report: TrackedReport, failure: UploadFailure, payload: PayloadFacts | undefined): Promise<void> {
    const ids = { reportId: report.id, instanceId: report.submission.instanceId, runnerId: report.submission.runnerId };
    if (failure.code === SHUTDOWN_CODE) {
      // Aborted by drain or close: not a failure of the report, which stays pending as it is.
      this.logger.debug('telemetry attempt aborted, report stays pending', ids);
      return this.finish(report, 'pending');
    }

    this.counters.failed += 1;
    if (this.config.mode === 'upload') {
      await this.outbox!.update(report.id, {
        attempts: this.attemptsTotal(report),
        lastError: lastErrorOf(failure),
        ...(payload === undefined ? {} : { payload }),
      });
    }

    const disposition = dispositionOf(failure);
    if (disposition === 'reject') {
      await this.outbox!.update(report.id, { state: 'rejected', reason: failure.message });
      this.counters.rejected += 1;
      this.warnFailure('telemetry report rejected by the server', failure, ids, {});
      return this.finish(report, 'rejected');
    }

    const budgetLeft = report.attemptsThisRun < this.config.maxAttemptsPerReport;
    if (disposition === 'hold' || !budgetLeft || this.closeRequested) {
      const reason = disposition === 'hold' ? 'not retried in this run' : 'attempt budget spent';
      this.warnFailure(`telemetry upload failed, ${reason}; report stays pending`, failure, ids, { attempts: report.attemptsThisRun });
      return this.finish(report, 'pending');
    }

    const delayMs =
      failure.step === 'put' && failure.status === 403
        ? 0
        : retryDelayMs(report.attemptsThisRun, this.config.backoff, this.config.random, failure.retryAfterMs);
    this.counters.retried += 1;
    this.warnFailure('telemetry upload failed, retrying', failure, ids, { attempts: report.attemptsThisRun, retryInMs: delayMs });

    report.phase = 'waiting';
    this.retryTimers.schedule(report.id, delayMs, (outcome) => {
      if (outcome === 'cancelled') {
        this.finish(report, 'pending');
        return;
      }
      report.phase = 'ready';
      this.readyQueue.push(report.id);
      this.pump();
    });
    this.notifyStateChange();
  }

  /** Forgets a report that ended in this run, and notifies the outcome listeners. */
  private finish(report: TrackedReport, outcome: ReportOutcome): void {
    this.tracked.delete(report.id);
    if (outcome === 'pending') this.finishedThisRun.add(report.id);
    this.emitOutcome(report.id, outcome);
    this.notifyStateChange();
    this.scheduleRequeue();
  }

  private emitOutcome(id: string, outcome: ReportOutcome): void {
    for (const listener of this.outcomeListeners) listener(id, outcome);
  }

  /** Returns the entry's attempt count over every run, including the attempts of this run not yet written. */
  private attemptsTotal(report: TrackedReport): number {
    const recorded = this.outbox?.get(report.id)?.attempts ?? 0;
    const total = recorded + report.attemptsThisRun - report.attemptsRecorded;
    report.attemptsRecorded = report.attemptsThisRun;
    return total;
  }

  private warnFailure(message: string, failure: UploadFailure, ids: Record<string, string>, extra: Record<string, unknown>): void {
    const key = `${failure.step}:${failure.status ?? failure.code ?? 'error'}`;
    const { allowed, suppressedBefore } = this.warnings.take(key, Date.now());
    if (!allowed) return;
    this.logger.warn(message, {
      ...ids,
      step: failure.step,
      status: failure.status,
      code: failure.code,
      error: failure.message,
      ...extra,
      ...(suppressedBefore > 0 ? { suppressedBefore } : {}),
    });
  }

  /** Takes the next pending report from the outbox after `requeueIntervalMs`, while there is room in memory. */
  private scheduleRequeue(): void {
    if (this.config.mode !== 'upload' || !this.config.backgroundRequeue || this.closeRequested) return;
    if (this.requeueTimer !== undefined || this.outbox === undefined) return;
    this.requeueTimer = setTimeout(() => {
      this.requeueTimer = undefined;
      this.requeueOne();
    }, this.config.requeueIntervalMs);
  }

  private requeueOne(): void {
    if (this.closeRequested || this.outbox === undefined) return;
    if (this.tracked.size >= this.config.maxQueued) {
      // No room now; a report that finishes calls scheduleRequeue again.
      return;
    }
    const next = this.outbox.pending().find((entry) => !this.tracked.has(entry.id) && !this.finishedThisRun.has(entry.id));
    if (next === undefined) return;

    // The log path is rebuilt from the id, so an entry written under another log dir path still matches.
    const submission = { ...submissionOf(next), logPath: logPathForReportId(this.config.logDir, next.id) };
    if (this.identify(submission) !== next.id) {
      this.finishedThisRun.add(next.id);
    } else {
      this.track(next.id, submission);
    }
    this.scheduleRequeue();
  }

  private isIdle(deadlineAtMs: number): boolean {
    return this.accepting === 0 && this.readyQueue.length === 0 && this.running === 0 && !this.retryTimers.hasDueBefore(deadlineAtMs);
  }

  private notifyStateChange(): void {
    for (const listener of [...this.stateListeners]) listener();
  }

  /** Resolves true once `condition` holds, or false after `timeoutMs`. */
  private waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    if (condition()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const listener = () => {
        if (!condition()) return;
        done(true);
      };
      const timer = setTimeout(() => done(condition()), timeoutMs);
      const done = (value: boolean) => {
        clearTimeout(timer);
        this.stateListeners.delete(listener);
        resolve(value);
      };
      this.stateListeners.add(listener);
    });
  }

  /** Aborts every attempt in flight; returns how many. */
  private abortRunning(reason: string): number {
    let aborted = 0;
    for (const report of this.tracked.values()) {
      if (report.controller === undefined || report.controller.signal.aborted) continue;
      report.controller.abort(new ExoError(SHUTDOWN_CODE, `upload aborted: ${reason}`));
      aborted += 1;
    }
    return aborted;
  }

  private async shutdown(): Promise<void> {
    this.closeRequested = true;
    // A start in progress finishes first (local files only), so it cannot create a hashing thread after close.
    await this.startPromise?.catch(() => undefined);
    if (this.requeueTimer !== undefined) clearTimeout(this.requeueTimer);
    this.requeueTimer = undefined;
    this.retryTimers.cancelAll();
    this.abortRunning('uploader closed');
    this.readyQueue.length = 0;
    for (const report of [...this.tracked.values()]) {
      if (report.phase === 'ready') this.finish(report, 'pending');
    }

    const settled = await this.waitFor(() => this.running === 0 && this.accepting === 0, CLOSE_SETTLE_MS);
    if (!settled) this.logger.warn('telemetry uploader closed with attempts still finishing', { inFlight: this.running, waitedMs: CLOSE_SETTLE_MS });
    await this.outbox?.flush();
    await this.hasher?.destroy().catch(() => undefined);
    await this.saveRunStats();
    this.logger.info('telemetry uploader closed', { ...this.stats() });
  }

  private async saveRunStats(): Promise<void> {
    if (this.outbox === undefined) return;
    const stats: RunStats = {
      mode: this.config.mode,
      startedAtMs: this.startedAtMs,
      writtenAtMs: Date.now(),
      received: this.counters.received,
      sent: this.counters.sent,
      dropped: this.counters.dropped + (this.config.readChannelDrops?.() ?? 0),
      failed: this.counters.failed,
      retried: this.counters.retried,
      rejected: this.counters.rejected,
      bytesSent: this.counters.bytesSent,
      pending: this.outbox.pendingCount(),
    };
    try {
      await writeRunStats(this.config.logDir, stats);
    } catch (error) {
      this.logger.warn('telemetry run counters not written', { error: describeError(error) });
    }
  }
}

function idsOf(submission: Submission | undefined): { instanceId: unknown; runnerId: unknown } {
  return { instanceId: submission?.instanceId, runnerId: submission?.runnerId };
}

function lastErrorOf(failure: UploadFailure): OutboxEntry['lastError'] {
  return { step: failure.step, code: failure.code, status: failure.status, message: failure.message, atMs: Date.now() };
}

/** Waits `delayMs` on the global setTimeout; rejects with the signal's reason when it aborts first. */
function sleep(delayMs: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, delayMs);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
