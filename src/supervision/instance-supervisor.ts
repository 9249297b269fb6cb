import type { Logger } from '../log/logger.js';
import type { InstanceSpec } from '../node/instances.js';
import type { RestartPolicy } from './restart-policy.js';
import type { RunnerEnd, RunnerEndHook } from './runner-end.js';
import { RunnerSupervisor } from './runner-supervisor.js';

export type InstanceState = 'running' | 'failed' | 'stopped';

export interface InstanceSupervisorOptions {
  spec: InstanceSpec;
  logDir: string;
  stopGraceMs: number;
  restartPolicy: RestartPolicy;
  logger: Logger;
  onRunnerEnd: RunnerEndHook;
}

/**
 * Owns the runners of one instance. An instance serves a model only with all of
 * its shards, so when one runner exhausts its restarts the instance is marked
 * failed and its other runners are stopped. Other instances are not affected.
 */
export class InstanceSupervisor {
  private state: InstanceState = 'running';
  /** Reason the instance failed, for a person. Set once, together with the failed state. */
  private failure: string | undefined;
  private readonly runners: RunnerSupervisor[];

  constructor(private readonly options: InstanceSupervisorOptions) {
    const { spec } = options;
    this.runners = spec.runners.map(
      (runner) =>
        new RunnerSupervisor({
          instanceId: spec.instanceId,
          spec: runner,
          logDir: options.logDir,
          maxRetries: spec.maxRetries,
          stopGraceMs: options.stopGraceMs,
          restartPolicy: options.restartPolicy,
          logger: options.logger,
          onEnd: options.onRunnerEnd,
          onGiveUp: (lastEnd) => this.markFailed(lastEnd),
        }),
    );
  }

  get instanceId(): string {
    return this.options.spec.instanceId;
  }

  get status(): { state: InstanceState; failure?: string; runners: Record<string, string> } {
    const runners = Object.fromEntries(this.runners.map((runner) => [runner.runnerId, runner.status]));
    return this.failure === undefined ? { state: this.state, runners } : { state: this.state, failure: this.failure, runners };
  }

  start(): void {
    this.options.logger.info('instance starting', { instanceId: this.instanceId, runners: this.runners.length });
    for (const runner of this.runners) runner.start();
  }

  /** Stops every runner of the instance; resolves when all their logs are closed. */
  async stop(): Promise<void> {
    if (this.state === 'running') this.state = 'stopped';
    await Promise.all(this.runners.map((runner) => runner.stop()));
  }

  /** Sends SIGKILL to every runner's process group at once, without waiting. */
  killNow(): void {
    for (const runner of this.runners) runner.killNow();
  }

  private markFailed(lastEnd: RunnerEnd): void {
    if (this.state !== 'running') return;
    this.state = 'failed';
    const ends = this.options.spec.maxRetries + 1;
    this.failure = `runner ${lastEnd.runnerId} ended ${ends === 1 ? 'once' : `${ends} times in a row`} without a clean exit, last: ${lastEnd.primaryCause}`;
    this.options.logger.error(`instance ${this.instanceId} failed: ${this.failure}`, {
      instanceId: this.instanceId,
      runnerId: lastEnd.runnerId,
      maxRetries: this.options.spec.maxRetries,
      logPath: lastEnd.logPath,
    });
    void Promise.all(this.runners.map((runner) => runner.stop()));
  }
}
