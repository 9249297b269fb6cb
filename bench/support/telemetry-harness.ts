import { link, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import type { Logger } from '../../src/log/logger.js';
import { formatLogTimestamp, RUNNER_LOG_FOLDER, STDERR_LOG_SUFFIX } from '../../src/node/log-dir.js';
import {
  DEFAULT_CHANNEL_CAPACITY,
  DEFAULT_DRAIN_TIMEOUT_SECONDS,
  DEFAULT_MAX_ATTEMPTS_PER_REPORT,
  DEFAULT_RUNNER_LOG_KEEP,
} from '../../src/telemetry/config.js';
import { TelemetryService } from '../../src/telemetry/service.js';
import type { Submission } from '../../src/telemetry/submission.js';
import type { UploaderStats } from '../../src/telemetry/uploader-control.js';

/** Per-request timeout of the benchmarks' uploads: a 1 GiB PUT on a loaded 2-core box may stall for seconds. */
const BENCH_TELEMETRY_TIMEOUT_MS = 60_000;

export interface BenchTelemetryOptions {
  logDir: string;
  apiUrl: string;
  redact: boolean;
  logger: Logger;
  channelCapacity?: number;
}

/**
 * Starts a TelemetryService in upload mode, as a node started with
 * `--telemetry` does: its own ring and uploader thread, the defaults of the
 * CLI except for a longer request timeout.
 */
export function startBenchTelemetry(options: BenchTelemetryOptions): TelemetryService {
  const service = new TelemetryService({
    mode: 'upload',
    apiUrl: options.apiUrl,
    channelCapacity: options.channelCapacity ?? DEFAULT_CHANNEL_CAPACITY,
    timeoutMs: BENCH_TELEMETRY_TIMEOUT_MS,
    drainTimeoutMs: DEFAULT_DRAIN_TIMEOUT_SECONDS * 1000,
    redact: options.redact,
    maxAttemptsPerReport: DEFAULT_MAX_ATTEMPTS_PER_REPORT,
    runnerLogKeep: DEFAULT_RUNNER_LOG_KEEP,
    logDir: options.logDir,
    logger: options.logger,
    // The uploader thread logs errors only, to the benchmark's stderr.
    logging: { verbosity: -1, format: 'human' },
  });
  service.start();
  return service;
}

/** Returns the path of a runner log in the layout the uploader accepts, and creates its folder. */
export async function runnerLogPath(logDir: string, instanceId: string, runnerId: string, sequence: number): Promise<string> {
  const folder = path.join(logDir, RUNNER_LOG_FOLDER, instanceId, runnerId);
  await mkdir(folder, { recursive: true });
  const name = `${formatLogTimestamp(new Date())}-${sequence}${STDERR_LOG_SUFFIX}`;
  return path.join(folder, name);
}

/**
 * Gives an existing log a new runner log path by a hard link, so each round
 * submits a report the outbox has not seen, without writing the bytes again.
 */
export async function linkRunnerLog(source: string, logDir: string, instanceId: string, runnerId: string, sequence: number): Promise<string> {
  const target = await runnerLogPath(logDir, instanceId, runnerId, sequence);
  await link(source, target);
  return target;
}

/** A submission for a log, as the runner-end hook builds it for a crash. */
export function crashSubmission(logPath: string, instanceId: string, runnerId: string): Submission {
  return {
    kind: 'runner-stderr',
    logPath,
    instanceId,
    runnerId,
    exitCode: 1,
    signal: null,
    diagnosticKinds: [],
    primaryCause: 'exit code 1',
    endedAtMs: Date.now(),
  };
}

/**
 * Polls the uploader's counters every `pollMs` until `sent` reaches `sentTarget`.
 * Rejects when a report fails, is rejected or goes missing, or after `timeoutMs`.
 */
export async function waitForSent(
  service: TelemetryService,
  sentTarget: number,
  options: { pollMs: number; timeoutMs: number; onPoll?: () => void },
): Promise<UploaderStats> {
  const startedAtMs = Date.now();
  for (;;) {
    const stats = (await service.stats()).uploader;
    options.onPoll?.();
    if (stats !== undefined) {
      // The engine also counts rejected and vanished reports, beyond the fields of the control type.
      const { rejected = 0, gone = 0 } = stats as UploaderStats & { rejected?: number; gone?: number };
      if (stats.failed > 0 || rejected > 0 || gone > 0) {
        throw new Error(`benchmark upload did not go through: ${JSON.stringify(stats)}`);
      }
      if (stats.sent >= sentTarget) return stats;
    }
    if (Date.now() - startedAtMs > options.timeoutMs) {
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${sentTarget} reports sent: ${JSON.stringify(stats)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs));
  }
}

/**
 * Uploads one small log through a fresh service and waits for it, so that its
 * uploader thread and hash thread are running before anything is measured, as
 * in a node that has been up for a while. Returns the number of reports sent.
 */
export async function warmUpTelemetry(service: TelemetryService, logDir: string): Promise<number> {
  const log = await runnerLogPath(logDir, 'bench-warm-up', 'r0', 0);
  await writeFile(log, 'warm-up line\n'.repeat(1000), { flag: 'wx' });
  service.submit(crashSubmission(log, 'bench-warm-up', 'r0'));
  await waitForSent(service, 1, { pollMs: 10, timeoutMs: 60_000 });
  return 1;
}
