/**
 * Rows 1 and 2: the main thread's event-loop delay while telemetry hashes and
 * uploads 8 logs of 128 MiB to a collector on 127.0.0.1, with 50 runners
 * supervised and writing stderr at a steady rate. Three scenarios run in
 * interleaved rounds on the same supervision, in one process:
 *
 * - ours: a TelemetryService in upload mode (uploader thread, hash task,
 *   redaction on as by default) gets one submission per log;
 * - idle: nothing is submitted, for as long as the ours round before it took;
 * - baseline: this file hashes (createHash over a read stream) and uploads
 *   (presign, then a streamed PUT) the same logs on the main thread.
 *
 * A fourth scenario, ours with redaction off, is measured for the notes. The
 * collector runs in a child process so that its work is not done on the loop
 * being measured, but it shares the machine's cores with everything else.
 *
 * Run alone with `node dist/bench/isolation.js`. Environment:
 * BENCH_ISOLATION_LOG_MIB (128), BENCH_ISOLATION_LOGS (8), BENCH_ISOLATION_RUNNERS (50),
 * BENCH_ISOLATION_LINES_PER_SECOND (20 per runner), BENCH_ISOLATION_ROUNDS (2),
 * BENCH_LOOP_RESOLUTION_MS (10), BENCH_COLLECTOR_NICE (0).
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { InstanceSpec } from '../src/node/instances.js';
import { DEFAULT_RESTART_POLICY } from '../src/supervision/restart-policy.js';
import { RunnerManager } from '../src/supervision/runner-manager.js';
import type { TelemetryService } from '../src/telemetry/service.js';
import { startCollectorProcess, type CollectorProcess } from './support/collector-process.js';
import { envFlag, envNumber } from './support/env.js';
import { presign, putFile, sha256OfFile } from './support/http-upload.js';
import { writeLogFile } from './support/log-content.js';
import { LoopDelayRecorder, type LoopDelayFigures } from './support/loop-delay.js';
import { isMainModule } from './support/main-module.js';
import { quietLogger } from './support/quiet-logger.js';
import { crashSubmission, linkRunnerLog, runnerLogPath, startBenchTelemetry, waitForSent, warmUpTelemetry } from './support/telemetry-harness.js';
import { listThreadIds, reniceNewThreads } from './support/thread-priority.js';
import { makeTempDir } from './support/temp-dir.js';
import { fmt, formatTable, type BenchRow } from './table.js';

const MIB = 1024 * 1024;
const TARGET_IDLE_RATIO = 1.2;
const TARGET_BASELINE_RATIO = 20;
/** How often every scenario reads the telemetry counters, so that all of them do the same polling. */
const POLL_MS = 100;
const UPLOAD_TIMEOUT_MS = 10 * 60_000;
/** Time for the runners to start and settle before the first measured window. */
const SETTLE_MS = 3_000;
const INSTANCE_ID = 'bench-upload';
const RUNNERS_PER_INSTANCE = 10;

const WRITER_PATH = fileURLToPath(new URL('./support/stderr-writer.js', import.meta.url));

type Scenario = 'ours' | 'idle' | 'baseline' | 'oursUnredacted' | 'oursReniced';

/** Nice value of the telemetry threads in the reniced scenario: the lowest priority. */
const TELEMETRY_THREAD_NICE = 19;

interface UploadTarget {
  service: TelemetryService;
  logDir: string;
  /** Reports the service delivered so far, warm-up included. */
  sent: number;
}

interface Setup {
  logs: string[];
  logBytes: number;
  collector: CollectorProcess;
  redacted: UploadTarget;
  unredacted: UploadTarget | undefined;
  reniced: UploadTarget | undefined;
}

/** Instances of supervised runners that each write `linesPerSecond` stderr lines until stopped. */
function steadyRunners(count: number, linesPerSecond: number, cwd: string): InstanceSpec[] {
  const instances: InstanceSpec[] = [];
  for (let first = 0; first < count; first += RUNNERS_PER_INSTANCE) {
    const runners = [];
    for (let index = first; index < Math.min(count, first + RUNNERS_PER_INSTANCE); index++) {
      runners.push({ runnerId: `r${index}`, command: [process.execPath, WRITER_PATH, 'steady', String(linesPerSecond)], env: {}, cwd });
    }
    instances.push({ instanceId: `steady-${first / RUNNERS_PER_INSTANCE}`, maxRetries: 0, runners });
  }
  return instances;
}

/** Submits every log to a service under fresh paths and waits until all are delivered. */
async function uploadWithService(setup: Setup, target: UploadTarget, round: number): Promise<void> {
  const submissions = [];
  for (const [index, log] of setup.logs.entries()) {
    const linked = await linkRunnerLog(log, target.logDir, INSTANCE_ID, `r${index}`, 100 + round);
    submissions.push(crashSubmission(linked, INSTANCE_ID, `r${index}`));
  }
  for (const submission of submissions) target.service.submit(submission);
  target.sent += submissions.length;
  await waitForSent(target.service, target.sent, { pollMs: POLL_MS, timeoutMs: UPLOAD_TIMEOUT_MS });
}

/** Hashes and uploads every log on the main thread, one after another, polling the counters as the others do. */
async function uploadOnMainThread(setup: Setup): Promise<void> {
  const poller = setInterval(() => void setup.redacted.service.stats(), POLL_MS);
  try {
    for (const log of setup.logs) {
      const sha256 = await sha256OfFile(log);
      const { uploadUrl } = await presign(setup.collector.url, { sha256, size: setup.logBytes });
      await putFile(uploadUrl, log, setup.logBytes);
    }
  } finally {
    clearInterval(poller);
  }
}

/** Polls the counters for `durationMs`, as the ours scenario does while it waits. */
async function stayIdle(setup: Setup, durationMs: number): Promise<void> {
  const endAtMs = Date.now() + durationMs;
  while (Date.now() < endAtMs) {
    await setup.redacted.service.stats();
    await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS, Math.max(0, endAtMs - Date.now()))));
  }
}

export async function run(): Promise<BenchRow[]> {
  const logBytes = Math.round(envNumber('BENCH_ISOLATION_LOG_MIB', 128) * MIB);
  const logCount = envNumber('BENCH_ISOLATION_LOGS', 8);
  const runnerCount = envNumber('BENCH_ISOLATION_RUNNERS', 50);
  const linesPerSecond = envNumber('BENCH_ISOLATION_LINES_PER_SECOND', 20);
  const rounds = envNumber('BENCH_ISOLATION_ROUNDS', 2);
  const resolutionMs = envNumber('BENCH_LOOP_RESOLUTION_MS', 10);
  const collectorNice = Number(process.env.BENCH_COLLECTOR_NICE ?? 0);
  const measureUnredacted = envFlag('BENCH_ISOLATION_UNREDACTED', true);
  const measureReniced = envFlag('BENCH_ISOLATION_RENICED', false);

  const temp = makeTempDir('isolation');
  const logger = quietLogger();
  let collector: CollectorProcess | undefined;
  let runners: RunnerManager | undefined;
  const services: TelemetryService[] = [];
  try {
    collector = await startCollectorProcess({ maxSizeBytes: 2 * logBytes, nice: collectorNice });
    const sourceDir = path.join(temp.path, 'sources');
    const logs: string[] = [];
    for (let index = 0; index < logCount; index++) {
      const log = await runnerLogPath(sourceDir, INSTANCE_ID, `r${index}`, 0);
      await writeLogFile(log, logBytes, `isolation ${index}`);
      logs.push(log);
    }

    // Each service has its own log dir, because two uploaders must not share an outbox.
    const startTarget = async (name: string, redact: boolean, nice?: number): Promise<UploadTarget> => {
      const logDir = path.join(temp.path, name);
      // Any fs call starts libuv's pool threads first, so they are never taken for telemetry threads.
      await stat(temp.path);
      const threadsBefore = listThreadIds();
      const service = startBenchTelemetry({ logDir, apiUrl: collector!.url, redact, logger });
      services.push(service);
      const sent = await warmUpTelemetry(service, logDir);
      if (nice !== undefined) reniceNewThreads(threadsBefore, nice);
      return { service, logDir, sent };
    };
    const redacted = await startTarget('node', true);
    const unredacted = measureUnredacted ? await startTarget('node-unredacted', false) : undefined;
    const reniced = measureReniced ? await startTarget('node-reniced', true, TELEMETRY_THREAD_NICE) : undefined;
    const setup: Setup = { logs, logBytes, collector, redacted, unredacted, reniced };

    runners = new RunnerManager({
      instances: steadyRunners(runnerCount, linesPerSecond, temp.path),
      logDir: path.join(temp.path, 'supervised'),
      stopGraceMs: 2_000,
      restartPolicy: DEFAULT_RESTART_POLICY,
      logger,
      // The steady runners end only when the benchmark stops them; their logs are not uploaded.
      onRunnerEnd: () => undefined,
    });
    runners.start();
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

    const recorders: Record<Scenario, LoopDelayRecorder> = {
      ours: new LoopDelayRecorder(resolutionMs),
      idle: new LoopDelayRecorder(resolutionMs),
      baseline: new LoopDelayRecorder(resolutionMs),
      oursUnredacted: new LoopDelayRecorder(resolutionMs),
      oursReniced: new LoopDelayRecorder(resolutionMs),
    };
    const seconds: Record<Scenario, number> = { ours: 0, idle: 0, baseline: 0, oursUnredacted: 0, oursReniced: 0 };
    const measure = async (scenario: Scenario, work: () => Promise<void>) => {
      const startedAt = process.hrtime.bigint();
      recorders[scenario].start();
      try {
        await work();
      } finally {
        recorders[scenario].stop();
      }
      const elapsed = Number(process.hrtime.bigint() - startedAt) / 1e9;
      seconds[scenario] += elapsed;
      return elapsed;
    };

    for (let round = 0; round < rounds; round++) {
      const oursSeconds = await measure('ours', () => uploadWithService(setup, setup.redacted, round));
      await measure('idle', () => stayIdle(setup, oursSeconds * 1000));
      await measure('baseline', () => uploadOnMainThread(setup));
      if (setup.unredacted !== undefined) await measure('oursUnredacted', () => uploadWithService(setup, setup.unredacted!, round));
      if (setup.reniced !== undefined) await measure('oursReniced', () => uploadWithService(setup, setup.reniced!, round));
    }

    return rowsOf({
      ours: recorders.ours.figures(),
      idle: recorders.idle.figures(),
      baseline: recorders.baseline.figures(),
      oursUnredacted: setup.unredacted === undefined ? undefined : recorders.oursUnredacted.figures(),
      oursReniced: setup.reniced === undefined ? undefined : recorders.oursReniced.figures(),
      seconds,
      rounds,
      bytesPerRound: logBytes * logCount,
      describeLoad: `${logCount} logs of ${logBytes / MIB} MiB, ${runnerCount} runners writing ${linesPerSecond} stderr lines/s each`,
      collectorNice,
    });
  } finally {
    await runners?.stop();
    await Promise.all(services.map((service) => service.shutdown()));
    await collector?.close();
    temp.remove();
  }
}

interface Results {
  ours: LoopDelayFigures;
  idle: LoopDelayFigures;
  baseline: LoopDelayFigures;
  oursUnredacted: LoopDelayFigures | undefined;
  oursReniced: LoopDelayFigures | undefined;
  seconds: Record<Scenario, number>;
  rounds: number;
  bytesPerRound: number;
  describeLoad: string;
  collectorNice: number;
}

function delayCell(figures: LoopDelayFigures): string {
  return `p99 ${fmt(figures.p99Ms)} ms, max ${fmt(figures.maxMs)} ms`;
}

function rowsOf(results: Results): BenchRow[] {
  const { ours, idle, baseline, oursUnredacted, oursReniced, seconds, rounds } = results;
  const throughput = (scenario: Scenario) => `${fmt((results.bytesPerRound * rounds) / 1e6 / seconds[scenario])} MB/s`;
  const common =
    `${results.describeLoad}; ${rounds} interleaved rounds; resolution ${ours.resolutionMs} ms, so an idle loop shows about ${ours.resolutionMs} ms; ` +
    `collector in a child process${results.collectorNice !== 0 ? ` at nice ${results.collectorNice}` : ''}`;

  const idleRatio = ours.p99Ms / idle.p99Ms;
  const idleNotes = [
    common,
    `ours with redaction on (the default), ${fmt(seconds.ours)} s in all (${throughput('ours')}); idle for the same time`,
    `p50: ours ${fmt(ours.p50Ms)} ms, idle ${fmt(idle.p50Ms)} ms`,
  ];
  if (oursUnredacted !== undefined) {
    idleNotes.push(`ours with redaction off: ${delayCell(oursUnredacted)}, ${fmt(seconds.oursUnredacted)} s in all (${throughput('oursUnredacted')})`);
  }
  if (oursReniced !== undefined) {
    idleNotes.push(
      `ours with its uploader and hash threads at nice ${TELEMETRY_THREAD_NICE} (an experiment, not what the node does): ` +
        `${delayCell(oursReniced)}, ratio to idle ${fmt(oursReniced.p99Ms / idle.p99Ms)}, ${fmt(seconds.oursReniced)} s in all (${throughput('oursReniced')})`,
    );
  }

  const baselineRatio = baseline.p99Ms / ours.p99Ms;
  return [
    {
      id: '1',
      measure: 'main-thread event-loop delay while 8 logs are hashed and uploaded, 50 runners supervised',
      ours: delayCell(ours),
      baseline: `${delayCell(idle)} (telemetry idle)`,
      ratio: fmt(idleRatio),
      target: `≤ ${TARGET_IDLE_RATIO}`,
      pass: idleRatio <= TARGET_IDLE_RATIO,
      notes: idleNotes.join('; '),
    },
    {
      id: '2',
      measure: 'the same, against hash and upload on the main thread',
      ours: delayCell(ours),
      baseline: `${delayCell(baseline)} (main-thread hash and upload)`,
      ratio: fmt(baselineRatio),
      target: `≥ ${TARGET_BASELINE_RATIO}`,
      pass: baselineRatio >= TARGET_BASELINE_RATIO,
      notes: `baseline: createHash over a 1 MiB read stream, presign, PUT streamed with node:http, no redaction; ${fmt(seconds.baseline)} s in all (${throughput('baseline')}); p50 ${fmt(baseline.p50Ms)} ms`,
    },
  ];
}

if (isMainModule(import.meta.url)) {
  console.log(formatTable(await run()));
}
