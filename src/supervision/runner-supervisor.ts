import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { StderrClassifier } from '../diagnostics/classifier.js';
import { primaryCause } from '../diagnostics/cause.js';
import type { StderrReport } from '../diagnostics/types.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { RepeatLimiter } from '../log/repeat-limiter.js';
import type { RunnerSpec } from '../node/instances.js';
import { formatLogTimestamp, runnerLogFolder, STDERR_LOG_SUFFIX } from '../node/log-dir.js';
import { LineSplitter } from './line-splitter.js';
import { restartDelayMs, type RestartPolicy } from './restart-policy.js';
import type { RunnerEnd, RunnerEndHook } from './runner-end.js';
import { groupAlive, signalGroup, signalRunner } from './stop-process.js';

/** After the process exits, how long its stderr may stay open (held by a grandchild) before the node closes it. */
export const STDERR_CLOSE_TIMEOUT_MS = 2_000;

/**
 * After a runner exits on its own, how long processes it left in its group get
 * after SIGTERM before SIGKILL (or the stop grace, when that is shorter). Left
 * behind, they could hold GPU memory that the next start needs.
 */
export const LEFTOVER_GRACE_MS = 2_000;
/** How often a group with leftover processes is checked while they get their grace. */
const LEFTOVER_POLL_MS = 50;

/** At most this many stderr or stdout lines of one runner are logged per second; the rest are counted. */
const LOGGED_LINES_PER_SECOND = 50;
/**
 * Bytes the stderr log's write stream buffers before write() returns false and
 * the pipe is paused, so at most this much per runner waits for a slow disk.
 * With the default 16 KiB, every 64 KiB pipe chunk paused the pipe until its
 * write finished, and reading never overlapped writing: a plain pipe-to-file
 * copy ran at less than half the speed (bench/capture.ts, 2 vCPUs, Node 20).
 */
const LOG_WRITE_BUFFER_BYTES = 1024 * 1024;
/** stdout chunks are logged up to this many characters. */
const MAX_LOGGED_STDOUT_CHARS = 500;

export interface RunnerSupervisorOptions {
  instanceId: string;
  spec: RunnerSpec;
  logDir: string;
  /** Restarts allowed before the supervisor gives up. */
  maxRetries: number;
  /** How long a runner gets after SIGTERM before SIGKILL. */
  stopGraceMs: number;
  restartPolicy: RestartPolicy;
  logger: Logger;
  onEnd: RunnerEndHook;
  /** Called once when the runner crashed more than maxRetries times in a row. */
  onGiveUp: (lastEnd: RunnerEnd) => void;
}

export type RunnerState = 'idle' | 'running' | 'backoff' | 'completed' | 'failed' | 'stopped';

/** One started process of a runner, from spawn to closed log. */
interface RunningProcess {
  child: ChildProcess;
  logPath: string;
  startedAtMs: number;
  /** Settles once the end has been logged and handed to the hook. */
  ended: Promise<void>;
}

/**
 * Runs one runner: spawns it, writes its stderr to a log file of its own,
 * classifies the lines, reports every end, and restarts it with backoff.
 */
export class RunnerSupervisor {
  private state: RunnerState = 'idle';
  private current: RunningProcess | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Crashes since the last start that stayed up for `healthyUptimeMs`. */
  private consecutiveCrashes = 0;
  private stopRequested = false;
  private stopping: Promise<void> | undefined;
  /** When a requested stop sends SIGKILL to whatever is left of the runner's group; set by stop. */
  private stopKillAtMs: number | undefined;
  private readonly lineLimiter = new RepeatLimiter(LOGGED_LINES_PER_SECOND, 1_000);

  constructor(private readonly options: RunnerSupervisorOptions) {}

  get runnerId(): string {
    return this.options.spec.runnerId;
  }

  get status(): RunnerState {
    return this.state;
  }

  /** Starts the first run. Later runs start by themselves after crashes. */
  start(): void {
    if (this.state !== 'idle') return;
    this.launch();
  }

  /**
   * Stops the runner: cancels a pending restart, sends SIGTERM, then SIGKILL after
   * the grace, and resolves once its log is closed and its end reported. Idempotent.
   */
  stop(): Promise<void> {
    if (this.stopping === undefined) {
      this.stopRequested = true;
      clearTimeout(this.restartTimer);
      this.restartTimer = undefined;
      this.stopping = this.stopCurrent().finally(() => {
        if (this.state === 'running' || this.state === 'backoff' || this.state === 'idle') this.state = 'stopped';
      });
    }
    return this.stopping;
  }

  private async stopCurrent(): Promise<void> {
    const current = this.current;
    if (current === undefined) return;
    const { instanceId } = this.options;
    this.options.logger.info('stopping runner', { instanceId, runnerId: this.runnerId, pid: current.child.pid });
    this.stopKillAtMs = Date.now() + this.options.stopGraceMs;
    signalRunner(current.child, 'SIGTERM');
    const killTimer = setTimeout(() => {
      this.options.logger.warn('runner ignored SIGTERM, sending SIGKILL', {
        instanceId,
        runnerId: this.runnerId,
        pid: current.child.pid,
        graceMs: this.options.stopGraceMs,
      });
      signalRunner(current.child, 'SIGKILL');
    }, this.options.stopGraceMs);
    try {
      await current.ended;
    } finally {
      clearTimeout(killTimer);
    }
  }

  private launch(): void {
    this.state = 'running';
    this.runOnce().catch((error: unknown) => {
      // runOnce handles its own failures; reaching here is a bug, and supervision must go on.
      this.options.logger.error('runner supervision failed', {
        instanceId: this.options.instanceId,
        runnerId: this.runnerId,
        error: describeError(error),
      });
    });
  }

  private async runOnce(): Promise<void> {
    const { instanceId, spec, logger } = this.options;
    const startedAtMs = Date.now();

    let log: NewLog;
    try {
      log = await openNewLog(runnerLogFolder(this.options.logDir, instanceId, spec.runnerId));
    } catch (error) {
      logger.error('cannot create runner stderr log', { instanceId, runnerId: spec.runnerId, error: describeError(error) });
      this.afterEnd(this.failedStartEnd('', startedAtMs, `cannot create stderr log: ${describeError(error)}`));
      return;
    }
    if (this.stopRequested) {
      await log.handle.close();
      return;
    }

    let resolveEnded!: () => void;
    const ended = new Promise<void>((resolve) => {
      resolveEnded = resolve;
    });
    let child: ChildProcess;
    try {
      child = spawn(spec.command[0]!, spec.command.slice(1), {
        cwd: spec.cwd,
        env: { ...process.env, ...spec.env },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
        windowsHide: true,
      });
    } catch (error) {
      await log.handle.close();
      resolveEnded();
      this.afterEnd(this.failedStartEnd(log.path, startedAtMs, describeError(error)));
      return;
    }
    this.current = { child, logPath: log.path, startedAtMs, ended };
    // A spawn that failed (command not found) has no pid; its end is reported from the 'error' event.
    if (child.pid !== undefined) logger.info('runner started', { instanceId, runnerId: spec.runnerId, pid: child.pid, logPath: log.path });

    let end: RunnerEnd | undefined;
    try {
      end = await this.capture(child, log, startedAtMs);
    } finally {
      // Cleared before the end is handled, so a stop called from there finds no process left to signal.
      this.current = undefined;
      resolveEnded();
    }
    this.afterEnd(end);
  }

  /** Copies stderr to the log file and the classifier until the process ended and the log is closed. */
  private async capture(child: ChildProcess, log: NewLog, startedAtMs: number): Promise<RunnerEnd> {
    const { instanceId, logger } = this.options;
    const runnerId = this.runnerId;
    const classifier = new StderrClassifier();
    // One clock read per chunk instead of per line: the lines of a chunk arrived together,
    // and at a million lines per second the reads showed up in profiles.
    let chunkReceivedAtMs = Date.now();
    const splitter = new LineSplitter((line) => {
      classifier.push(line);
      this.logLine('stderr', line, chunkReceivedAtMs);
    });
    const file = fs.createWriteStream(log.path, { fd: log.handle, highWaterMark: LOG_WRITE_BUFFER_BYTES });
    const stderr = child.stderr!;
    const stdout = child.stdout!;

    let fileError: Error | undefined;
    file.on('error', (error) => {
      // A full disk must not stop supervision: the runner keeps running, lines are still classified.
      if (fileError === undefined) {
        fileError = error;
        // 'drain' never comes after an error, so a pipe paused for it would block the runner for good.
        stderr.resume();
        logger.error('cannot write runner stderr log', { instanceId, runnerId, logPath: log.path, error: describeError(error) });
      }
    });
    stderr.on('data', (chunk: Buffer) => {
      // Bytes go to the file unchanged. A slow disk pauses the pipe instead of growing memory.
      if (fileError === undefined && !file.write(chunk)) {
        stderr.pause();
        file.once('drain', () => stderr.resume());
      }
      chunkReceivedAtMs = Date.now();
      splitter.push(chunk);
    });
    stdout.on('data', (chunk: Buffer) => {
      this.logLine('stdout', chunk.toString('utf8', 0, Math.min(chunk.length, MAX_LOGGED_STDOUT_CHARS * 4)).slice(0, MAX_LOGGED_STDOUT_CHARS));
    });
    stdout.on('error', () => undefined);

    const stderrClosed = new Promise<void>((resolve) => {
      stderr.once('close', resolve);
      stderr.once('error', (error) => {
        logger.warn('runner stderr pipe failed', { instanceId, runnerId, error: describeError(error) });
        resolve();
      });
    });
    const exit = await new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null; spawnError: string | null }>((resolve) => {
      child.once('exit', (exitCode, signal) => resolve({ exitCode, signal, spawnError: null }));
      child.once('error', (error) => {
        // 'error' without a pid means the spawn failed (command not found, not executable).
        if (child.pid === undefined) resolve({ exitCode: null, signal: null, spawnError: describeError(error) });
      });
    });

    if (exit.spawnError === null && child.pid !== undefined) await this.reapLeftovers(child.pid);
    await waitAtMost(stderrClosed, STDERR_CLOSE_TIMEOUT_MS, () => {
      logger.warn('runner stderr still open after exit, closing it', { instanceId, runnerId, waitedMs: STDERR_CLOSE_TIMEOUT_MS });
      stderr.destroy();
      stdout.destroy();
    });
    chunkReceivedAtMs = Date.now();
    splitter.end();
    await new Promise<void>((resolve) => file.end(resolve));
    this.flushSuppressed();

    const endedAtMs = Date.now();
    const report = classifier.finish();
    return {
      instanceId,
      runnerId,
      logPath: log.path,
      exitCode: exit.exitCode,
      signal: exit.signal,
      spawnError: exit.spawnError,
      stopRequested: this.stopRequested,
      report,
      primaryCause: describeCause(exit, report),
      startedAtMs,
      endedAtMs,
    };
  }

  /**
   * Stops processes the runner left in its group after it exited: SIGTERM, then
   * SIGKILL once their grace is over. A requested stop already sent SIGTERM to the
   * whole group, so then only its deadline applies.
   */
  private async reapLeftovers(groupId: number): Promise<void> {
    if (!groupAlive(groupId)) return;
    const { instanceId, logger } = this.options;
    let killAtMs = this.stopKillAtMs;
    if (killAtMs === undefined) {
      killAtMs = Date.now() + Math.min(this.options.stopGraceMs, LEFTOVER_GRACE_MS);
      logger.warn('runner exited and left processes in its group, sending them SIGTERM', { instanceId, runnerId: this.runnerId, groupId });
      signalGroup(groupId, 'SIGTERM');
    }
    while (groupAlive(groupId) && Date.now() < killAtMs) {
      await new Promise((resolve) => setTimeout(resolve, LEFTOVER_POLL_MS));
    }
    if (groupAlive(groupId)) {
      logger.warn('processes left by the runner ignored SIGTERM, sending SIGKILL to its group', { instanceId, runnerId: this.runnerId, groupId });
      signalGroup(groupId, 'SIGKILL');
    }
  }

  /**
   * Sends SIGKILL to the runner's process group at once, without waiting. For an
   * exit that cannot wait, such as a second Ctrl-C.
   */
  killNow(): void {
    const pid = this.current?.child.pid;
    if (pid !== undefined) signalGroup(pid, 'SIGKILL');
  }

  private failedStartEnd(logPath: string, startedAtMs: number, spawnError: string): RunnerEnd {
    const report: StderrReport = { diagnostics: [], lastLines: [] };
    return {
      instanceId: this.options.instanceId,
      runnerId: this.runnerId,
      logPath,
      exitCode: null,
      signal: null,
      spawnError,
      stopRequested: this.stopRequested,
      report,
      primaryCause: describeCause({ exitCode: null, signal: null, spawnError }, report),
      startedAtMs,
      endedAtMs: Date.now(),
    };
  }

  /** Logs the end, reports it to the hook, and decides whether to restart. */
  private afterEnd(end: RunnerEnd): void {
    const { instanceId, logger } = this.options;
    const facts = {
      instanceId,
      runnerId: this.runnerId,
      exitCode: end.exitCode,
      signal: end.signal,
      logPath: end.logPath,
      diagnostics: end.report.diagnostics.map((diagnostic) => diagnostic.kind),
    };
    const clean = end.exitCode === 0;
    if (end.stopRequested) {
      logger.info(`runner stopped: ${end.primaryCause}`, facts);
    } else if (clean) {
      logger.info('runner exited cleanly', facts);
    } else {
      const evidence = end.report.diagnostics.flatMap((diagnostic) => diagnostic.evidence).slice(-4);
      logger.error(`runner ${instanceId}/${this.runnerId} ended: ${end.primaryCause}`, {
        ...facts,
        evidence: evidence.length > 0 ? evidence : end.report.lastLines,
      });
    }

    try {
      this.options.onEnd(end);
    } catch (error) {
      // The hook must not throw; if it does, supervision still goes on.
      logger.error('runner-end hook failed', { instanceId, runnerId: this.runnerId, error: describeError(error) });
    }

    if (end.stopRequested || this.stopRequested) {
      this.state = 'stopped';
      return;
    }
    if (clean) {
      this.state = 'completed';
      return;
    }
    this.scheduleRestart(end);
  }

  private scheduleRestart(end: RunnerEnd): void {
    const { instanceId, logger, restartPolicy } = this.options;
    const uptimeMs = end.endedAtMs - end.startedAtMs;
    if (uptimeMs >= restartPolicy.healthyUptimeMs) this.consecutiveCrashes = 0;
    this.consecutiveCrashes += 1;

    if (this.consecutiveCrashes > this.options.maxRetries) {
      this.state = 'failed';
      this.options.onGiveUp(end);
      return;
    }
    const delayMs = restartDelayMs(this.consecutiveCrashes, restartPolicy);
    this.state = 'backoff';
    logger.info('restarting runner after backoff', {
      instanceId,
      runnerId: this.runnerId,
      restart: this.consecutiveCrashes,
      maxRetries: this.options.maxRetries,
      delayMs,
    });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopRequested) this.launch();
    }, delayMs);
  }

  private logLine(stream: 'stderr' | 'stdout', line: string, nowMs = Date.now()): void {
    const { allowed, suppressedBefore } = this.lineLimiter.take(stream, nowMs);
    // Most lines of a flooding runner end here, so nothing is allocated before this point.
    if (!allowed && suppressedBefore === 0) return;
    const ids = { instanceId: this.options.instanceId, runnerId: this.runnerId };
    if (suppressedBefore > 0) {
      this.options.logger.warn(`${suppressedBefore} runner ${stream} lines not logged (more than ${LOGGED_LINES_PER_SECOND} per second); the stderr log file has all of them`, ids);
    }
    if (!allowed) return;
    if (stream === 'stdout') {
      this.options.logger.warn(`unexpected stdout: ${line}`, ids);
    } else {
      this.options.logger.warn(`stderr: ${line}`, ids);
    }
  }

  private flushSuppressed(): void {
    for (const stream of ['stderr', 'stdout'] as const) {
      const suppressed = this.lineLimiter.flush(stream);
      if (suppressed > 0) {
        this.options.logger.warn(`${suppressed} runner ${stream} lines not logged (more than ${LOGGED_LINES_PER_SECOND} per second); the stderr log file has all of them`, {
          instanceId: this.options.instanceId,
          runnerId: this.runnerId,
        });
      }
    }
  }
}

function describeCause(
  exit: { exitCode: number | null; signal: NodeJS.Signals | null; spawnError: string | null },
  report: StderrReport,
): string {
  if (exit.spawnError !== null) return `failed to start: ${exit.spawnError}`;
  return primaryCause({ exitCode: exit.exitCode, signal: exit.signal }, report);
}

/**
 * Creates the stderr log of a new start. The name is the UTC start time to the
 * microsecond; 'wx' makes a collision fail, and a numbered suffix keeps it unique.
 */
async function openNewLog(folder: string): Promise<NewLog> {
  await fs.promises.mkdir(folder, { recursive: true });
  const nowMs = Date.now();
  const microsWithinMs = Number(process.hrtime.bigint() / 1000n % 1000n);
  const stamp = formatLogTimestamp(new Date(nowMs), microsWithinMs);
  for (let attempt = 0; ; attempt += 1) {
    const name = attempt === 0 ? `${stamp}${STDERR_LOG_SUFFIX}` : `${stamp}-${attempt}${STDERR_LOG_SUFFIX}`;
    const logPath = path.join(folder, name);
    try {
      const handle = await fs.promises.open(logPath, 'wx', 0o644);
      return { path: logPath, handle };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 1000) throw error;
    }
  }
}

/** A freshly created, empty stderr log. */
interface NewLog {
  path: string;
  handle: fs.promises.FileHandle;
}

/** Waits for `promise`, or calls `onTimeout` after `timeoutMs` and stops waiting. */
async function waitAtMost(promise: Promise<void>, timeoutMs: number, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onTimeout();
      resolve();
    }, timeoutMs);
  });
  try {
    await Promise.race([promise, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
