import type { Logger } from '../log/logger.js';
import type { InstanceSpec } from '../node/instances.js';
import { InstanceSupervisor } from './instance-supervisor.js';
import type { RestartPolicy } from './restart-policy.js';
import type { RunnerEndHook } from './runner-end.js';

export interface RunnerManagerOptions {
  instances: InstanceSpec[];
  logDir: string;
  stopGraceMs: number;
  restartPolicy: RestartPolicy;
  logger: Logger;
  /** Called for every runner end; telemetry plugs in here. */
  onRunnerEnd: RunnerEndHook;
}

/**
 * The part of a node that owns runner supervision (exo calls this role the
 * node's worker; the name here avoids any confusion with worker threads).
 */
export class RunnerManager {
  private readonly instances: InstanceSupervisor[];

  constructor(options: RunnerManagerOptions) {
    this.instances = options.instances.map(
      (spec) =>
        new InstanceSupervisor({
          spec,
          logDir: options.logDir,
          stopGraceMs: options.stopGraceMs,
          restartPolicy: options.restartPolicy,
          logger: options.logger,
          onRunnerEnd: options.onRunnerEnd,
        }),
    );
  }

  start(): void {
    for (const instance of this.instances) instance.start();
  }

  /** Stops every runner of every instance; resolves when all logs are closed. */
  async stop(): Promise<void> {
    await Promise.all(this.instances.map((instance) => instance.stop()));
  }

  /** Sends SIGKILL to every runner's process group at once, for an exit that cannot wait. */
  killNow(): void {
    for (const instance of this.instances) instance.killNow();
  }

  status(): Record<string, InstanceSupervisor['status']> {
    return Object.fromEntries(this.instances.map((instance) => [instance.instanceId, instance.status]));
  }
}
