/**
 * Rows 5 and 6: a 1 GiB runner log hashed and uploaded to a collector on
 * 127.0.0.1 by our uploader (TelemetryService, its uploader thread and hash
 * task). It is compared with `openssl dgst -sha256 FILE` then `curl -T FILE`
 * to an upload URL presigned by the same collector. Row 6 is the peak RSS
 * growth of this process while ours uploads. Rounds alternate between the two. Run alone with
 * `node dist/bench/upload-throughput.js`; BENCH_UPLOAD_MIB (default 1024),
 * BENCH_UPLOAD_ROUNDS (default 3) and BENCH_UPLOAD_REDACTED=0 (skip the extra
 * round with redaction on) shorten it.
 *
 * Ours runs with redaction off for the ratio, because the tools it is compared
 * with send the bytes as they are; one round with redaction on (the CLI's
 * default) is timed for the notes.
 */
import path from 'node:path';

import type { TelemetryService } from '../src/telemetry/service.js';
import { startCollectorProcess, type CollectorProcess } from './support/collector-process.js';
import { runCommand, which } from './support/commands.js';
import { envFlag, envNumber } from './support/env.js';
import { presign } from './support/http-upload.js';
import { writeLogFile } from './support/log-content.js';
import { isMainModule } from './support/main-module.js';
import { mib, RssSampler, type RssGrowth } from './support/memory.js';
import { quietLogger } from './support/quiet-logger.js';
import { crashSubmission, linkRunnerLog, runnerLogPath, startBenchTelemetry, waitForSent } from './support/telemetry-harness.js';
import { makeTempDir } from './support/temp-dir.js';
import { fmt, formatTable, quantile, type BenchRow } from './table.js';

const MIB = 1024 * 1024;
const TARGET_TIME_RATIO = 1.5;
const TARGET_RSS_GROWTH_BYTES = 64 * MIB;
/** How often the uploader's counters are read while waiting for delivery; bounds the timing error. */
const POLL_MS = 10;
const UPLOAD_TIMEOUT_MS = 10 * 60_000;
/** A small log uploaded first, so the uploader thread and the hash thread are running when timing starts. */
const WARM_UP_BYTES = 64 * 1024;

const INSTANCE_ID = 'bench';
const RUNNER_ID = 'upload';

interface OursResult {
  seconds: number;
  rss: RssGrowth;
}

/** Submits a log to the service and waits until it is delivered, sampling RSS meanwhile. */
async function uploadWithService(service: TelemetryService, logPath: string, sentBefore: number): Promise<OursResult> {
  const rss = new RssSampler();
  rss.start();
  const startedAt = process.hrtime.bigint();
  service.submit(crashSubmission(logPath, INSTANCE_ID, RUNNER_ID));
  await waitForSent(service, sentBefore + 1, { pollMs: POLL_MS, timeoutMs: UPLOAD_TIMEOUT_MS });
  const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
  return { seconds, rss: rss.stop() };
}

/** `openssl dgst -sha256 FILE`, a presign request, then `curl -T FILE` to the upload URL; resolves with the seconds taken. */
async function uploadWithTools(collector: CollectorProcess, filePath: string, sizeBytes: number): Promise<number> {
  const startedAt = process.hrtime.bigint();
  const digest = await runCommand('openssl', ['dgst', '-sha256', '-r', filePath]);
  const sha256 = /^[0-9a-f]{64}/.exec(digest)?.[0];
  if (sha256 === undefined) throw new Error(`unexpected openssl dgst output: ${digest.slice(0, 200)}`);

  const { uploadUrl } = await presign(collector.url, { sha256, size: sizeBytes });
  const status = await runCommand('curl', [
    '--silent', '--show-error', '--output', '/dev/null', '--write-out', '%{http_code}',
    '--upload-file', filePath, '--header', 'Content-Type: application/octet-stream', uploadUrl,
  ]);
  if (status.trim() !== '200') throw new Error(`curl upload returned HTTP ${status.trim()}`);
  return Number(process.hrtime.bigint() - startedAt) / 1e9;
}

/** Returns `openssl speed -evp sha256` for 16384-byte blocks, in MB/s, as the hashing limit of one core. */
async function opensslSha256Speed(): Promise<number | undefined> {
  const output = await runCommand('openssl', ['speed', '-evp', 'sha256', '-bytes', '16384', '-seconds', '1']).catch(() => '');
  // The figure is in thousands of bytes per second, such as "sha256  1742775.72k".
  const match = /^sha256\s+([\d.]+)k\s*$/im.exec(output);
  return match === null ? undefined : (Number(match[1]) * 1000) / 1e6;
}

export async function run(): Promise<BenchRow[]> {
  const sizeBytes = Math.round(envNumber('BENCH_UPLOAD_MIB', 1024) * MIB);
  const rounds = envNumber('BENCH_UPLOAD_ROUNDS', 3);
  const timeRedacted = envFlag('BENCH_UPLOAD_REDACTED', true);
  const missingTools = ['openssl', 'curl'].filter((tool) => which(tool) === undefined);

  const temp = makeTempDir('upload');
  const logger = quietLogger();
  let collector: CollectorProcess | undefined;
  const services: TelemetryService[] = [];
  try {
    collector = await startCollectorProcess({ maxSizeBytes: 2 * sizeBytes });
    const logDir = path.join(temp.path, 'node');
    const source = await runnerLogPath(logDir, INSTANCE_ID, RUNNER_ID, 0);
    await writeLogFile(source, sizeBytes, 'upload-throughput');

    const service = startBenchTelemetry({ logDir, apiUrl: collector.url, redact: false, logger });
    services.push(service);
    const warmUpLog = await runnerLogPath(logDir, INSTANCE_ID, RUNNER_ID, 1);
    await writeLogFile(warmUpLog, WARM_UP_BYTES, 'warm-up');
    const warmUp = await uploadWithService(service, warmUpLog, 0);
    let sent = 1;

    const ours: OursResult[] = [];
    const tools: number[] = [];
    for (let round = 0; round < rounds; round++) {
      if (missingTools.length === 0) tools.push(await uploadWithTools(collector, source, sizeBytes));
      const linked = await linkRunnerLog(source, logDir, INSTANCE_ID, RUNNER_ID, 10 + round);
      ours.push(await uploadWithService(service, linked, sent));
      sent += 1;
    }

    let redactedSeconds: number | undefined;
    if (timeRedacted) {
      // Its own log dir, because two uploaders must not share an outbox.
      const redactedDir = path.join(temp.path, 'node-redacted');
      const redactedService = startBenchTelemetry({ logDir: redactedDir, apiUrl: collector.url, redact: true, logger });
      services.push(redactedService);
      const linked = await linkRunnerLog(source, redactedDir, INSTANCE_ID, RUNNER_ID, 0);
      redactedSeconds = (await uploadWithService(redactedService, linked, 0)).seconds;
    }
    const limit = missingTools.includes('openssl') ? undefined : await opensslSha256Speed();

    return [timeRow(sizeBytes, ours, tools, missingTools, limit, redactedSeconds), rssRow(sizeBytes, ours, warmUp)];
  } finally {
    await Promise.all(services.map((service) => service.shutdown()));
    await collector?.close();
    temp.remove();
  }
}

function timeRow(
  sizeBytes: number,
  ours: OursResult[],
  tools: number[],
  missingTools: string[],
  limitMBps: number | undefined,
  redactedSeconds: number | undefined,
): BenchRow {
  const oursSeconds = quantile(ours.map((result) => result.seconds), 0.5);
  const rate = (seconds: number) => `${fmt(sizeBytes / 1e6 / seconds)} MB/s`;
  const notes = [`medians of ${ours.length} interleaved rounds; ours with redaction off, as the tools send the bytes as they are`];
  if (redactedSeconds !== undefined) notes.push(`ours with redaction on (the default): ${fmt(redactedSeconds)} s (${rate(redactedSeconds)})`);
  if (limitMBps !== undefined) notes.push(`limit: openssl speed -evp sha256, 16384-byte blocks, ${fmt(limitMBps)} MB/s on one core`);

  if (missingTools.length > 0) {
    notes.push(`${missingTools.join(' and ')} not installed, so there is nothing to compare with`);
    return {
      id: '5',
      measure: `hash and upload of a ${sizeBytes / MIB} MiB log to a collector on 127.0.0.1`,
      ours: `${fmt(oursSeconds)} s (${rate(oursSeconds)})`,
      baseline: 'not measured',
      ratio: '—',
      target: `≤ ${TARGET_TIME_RATIO}`,
      pass: false,
      notes: notes.join('; '),
    };
  }
  const toolsSeconds = quantile(tools, 0.5);
  const ratio = oursSeconds / toolsSeconds;
  return {
    id: '5',
    measure: `hash and upload of a ${sizeBytes / MIB} MiB log to a collector on 127.0.0.1`,
    ours: `${fmt(oursSeconds)} s (${rate(oursSeconds)})`,
    baseline: `${fmt(toolsSeconds)} s (${rate(toolsSeconds)}), openssl dgst -sha256 then curl -T`,
    ratio: fmt(ratio),
    target: `≤ ${TARGET_TIME_RATIO}`,
    pass: ratio <= TARGET_TIME_RATIO,
    notes: notes.join('; '),
  };
}

function rssRow(sizeBytes: number, ours: OursResult[], warmUp: OursResult): BenchRow {
  // The worst round counts; the kernel's peak (VmHWM) catches what 5 ms samples miss.
  const growthOf = (result: OursResult) => Math.max(result.rss.sampledGrowthBytes, result.rss.kernelGrowthBytes ?? 0);
  const worst = Math.max(...ours.map(growthOf));
  const kernelMeasured = ours.every((result) => result.rss.kernelGrowthBytes !== undefined);
  return {
    id: '6',
    measure: `peak RSS growth while uploading a ${sizeBytes / MIB} MiB log`,
    ours: mib(worst),
    baseline: `${mib(sizeBytes)} (the log's size)`,
    ratio: fmt(worst / sizeBytes),
    target: `≤ ${mib(TARGET_RSS_GROWTH_BYTES)}`,
    pass: worst <= TARGET_RSS_GROWTH_BYTES,
    notes:
      `worst of ${ours.length} rounds (${ours.map((result) => mib(growthOf(result))).join(', ')}), whole process (main, uploader and hash threads), ` +
      (kernelMeasured ? 'from VmHWM reset before each upload and 5 ms samples' : 'from 5 ms samples only (VmHWM not resettable here)') +
      `; the first upload of the process, which starts the hash thread: ${mib(growthOf(warmUp))}`,
  };
}

if (isMainModule(import.meta.url)) {
  console.log(formatTable(await run()));
}
