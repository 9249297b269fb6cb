import fs from 'node:fs/promises';
import path from 'node:path';

import { describeError } from '../errors.js';
import type { LogFormat, Logger } from '../log/logger.js';
import { RunnerManager } from '../supervision/runner-manager.js';
import type { RestartPolicy } from '../supervision/restart-policy.js';
import type { RunnerEnd } from '../supervision/runner-end.js';
import type { TelemetryConfig } from '../telemetry/config.js';
import { TelemetryService } from '../telemetry/service.js';
import type { Submission } from '../telemetry/submission.js';
import type { InstanceSpec } from './instances.js';

export interface NodeOptions {
  instances: InstanceSpec[];
  logDir: string;
  /** How long a runner gets after SIGTERM before SIGKILL. */
  stopGraceMs: number;
  restartPolicy: RestartPolicy;
  telemetry: TelemetryConfig;
  logger: Logger;
  /** Logging settings of the uploader thread: the node's console verbosity and format, and the node log file. */
  logging?: { verbosity: number; format: LogFormat; file?: string };
}

/** Turns a runner end into the fixed-size facts that cross into the uploader thread. */
export function toSubmission(end: RunnerEnd): Submission {
  return {
    kind: 'runner-stderr',
    logPath: end.logPath,
    instanceId: end.instanceId,
    runnerId: end.runnerId,
    exitCode: end.exitCode,
    signal: end.signal,
    diagnosticKinds: end.report.diagnostics.map((diagnostic) => diagnostic.kind),
    primaryCause: end.primaryCause,
    endedAtMs: end.endedAtMs,
  };
}

/**
 * An exo node: supervises the runners of its instances and hands every runner
 * end to telemetry. Create it with `ExoNode.create`, then `start`, and end it
 * with `shutdown`, which is idempotent.
 */
export class ExoNode {
  private shuttingDown: Promise<void> | undefined;

  private constructor(
    private readonly options: NodeOptions,
    private readonly telemetry: TelemetryService,
    private readonly runners: RunnerManager,
  ) {}

  static async create(options: NodeOptions): Promise<ExoNode> {
    await fs.mkdir(options.logDir, { recursive: true });
    const telemetry = new TelemetryService({
      ...options.telemetry,
      logDir: options.logDir,
      logger: options.logger,
      logging: options.logging,
    });
    const runners = new RunnerManager({
      instances: options.instances,
      logDir: options.logDir,
      stopGraceMs: options.stopGraceMs,
      restartPolicy: options.restartPolicy,
      logger: options.logger,
      // Never awaits and never throws: submit only writes a record into shared memory.
      onRunnerEnd: (end) => {
        if (end.logPath !== '') telemetry.submit(toSubmission(end));
      },
    });
    return new ExoNode(options, telemetry, runners);
  }

  /** Starts the uploader thread and every runner. Does not wait for uploads of any kind. */
  start(): void {
    const { logger, logDir, instances } = this.options;
    logger.info('node starting', {
      logDir,
      instances: instances.map((instance) => instance.instanceId),
      telemetry: this.options.telemetry.mode,
      pid: process.pid,
    });
    this.telemetry.start();
    this.runners.start();
  }

  /**
   * Kills every runner with SIGKILL, synchronously, for an exit that cannot wait
   * (a second Ctrl-C). Runners run in process groups of their own, so a terminal's
   * Ctrl-C never reaches them, and an exit without this would leave them running.
   */
  killRunnersNow(): void {
    this.runners.killNow();
  }

  status(): ReturnType<RunnerManager['status']> {
    return this.runners.status();
  }

  /**
   * Stops every runner (SIGTERM, then SIGKILL after the grace), closes the
   * submission channel, and gives telemetry at most its drain deadline. What is
   * not uploaded by then stays in the outbox for the next start.
   */
  shutdown(reason: string): Promise<void> {
    this.shuttingDown ??= this.runShutdown(reason);
    return this.shuttingDown;
  }

  private async runShutdown(reason: string): Promise<void> {
    const { logger } = this.options;
    const startedAtMs = Date.now();
    logger.info('node stopping', { reason });
    try {
      await this.runners.stop();
    } catch (error) {
      logger.error('stopping runners failed', { error: describeError(error) });
    }
    await this.telemetry.shutdown();
    logger.info('node stopped', { reason, tookMs: Date.now() - startedAtMs, logDir: path.resolve(this.options.logDir) });
  }
}
