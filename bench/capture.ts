/**
 * Row 7: capture of a runner's stderr through RunnerSupervisor (log file,
 * line splitting, classifier, rate-limited line logging) against the shell
 * doing the same redirection, `sh -c 'CMD 2>FILE'`. The runner is the same
 * child in both: bench/support/stderr-writer.js writing realistic runner lines
 * in 64 KiB writes. Timed from spawn to the end being reported (ours) or to
 * the shell's exit, in interleaved rounds. Run alone with
 * `node dist/bench/capture.js`; BENCH_CAPTURE_MIB (default 1024) and
 * BENCH_CAPTURE_ROUNDS (default 3) change the size and the rounds.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { StderrClassifier } from '../src/diagnostics/classifier.js';
import { RepeatLimiter } from '../src/log/repeat-limiter.js';
import { LineSplitter } from '../src/supervision/line-splitter.js';
import { DEFAULT_RESTART_POLICY } from '../src/supervision/restart-policy.js';
import type { RunnerEnd } from '../src/supervision/runner-end.js';
import { RunnerSupervisor } from '../src/supervision/runner-supervisor.js';
import { envNumber } from './support/env.js';
import { buildLogBlock } from './support/log-content.js';
import { isMainModule } from './support/main-module.js';
import { quietLogger } from './support/quiet-logger.js';
import { makeTempDir } from './support/temp-dir.js';
import { fmt, formatTable, quantile, type BenchRow } from './table.js';

const MIB = 1024 * 1024;
const WRITE_BYTES = 64 * 1024;
/** Bytes of distinct lines the writer cycles through; far larger than any buffer on the way. */
const SOURCE_BYTES = 64 * MIB;
const TARGET_RATIO = 1.3;

const WRITER_PATH = fileURLToPath(new URL('./support/stderr-writer.js', import.meta.url));

/** Runs the writer under RunnerSupervisor; resolves with the seconds from start to the reported end. */
async function captureWithSupervisor(command: string[], logDir: string, expectedBytes: number): Promise<number> {
  const startedAt = process.hrtime.bigint();
  const end = await new Promise<RunnerEnd>((resolve) => {
    const supervisor = new RunnerSupervisor({
      instanceId: 'bench',
      spec: { runnerId: 'capture', command, env: {}, cwd: logDir },
      logDir,
      maxRetries: 0,
      stopGraceMs: 10_000,
      restartPolicy: DEFAULT_RESTART_POLICY,
      logger: quietLogger(),
      onEnd: resolve,
      onGiveUp: () => undefined,
    });
    supervisor.start();
  });
  const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;

  if (end.exitCode !== 0) throw new Error(`capture writer ended with ${end.primaryCause}`);
  const size = statSync(end.logPath).size;
  if (size !== expectedBytes) throw new Error(`stderr log ${end.logPath} has ${size} bytes, expected ${expectedBytes}`);
  return seconds;
}

/**
 * Copies the writer's stderr pipe into a file in this process, with the same
 * write stream settings as the supervisor and no line handling: the least a
 * Node.js supervisor can do. Resolves with the seconds from spawn to the file closed.
 */
async function captureWithPlainCopy(command: string[], outFile: string, expectedBytes: number): Promise<number> {
  const startedAt = process.hrtime.bigint();
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  const file = createWriteStream(outFile, { highWaterMark: 1024 * 1024 });
  const stderr = child.stderr!;
  stderr.on('data', (chunk: Buffer) => {
    if (!file.write(chunk)) {
      stderr.pause();
      file.once('drain', () => stderr.resume());
    }
  });
  await new Promise<void>((resolve, reject) => {
    stderr.once('close', resolve);
    child.once('error', reject);
  });
  await new Promise<void>((resolve) => file.end(resolve));
  const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;

  const size = statSync(outFile).size;
  if (size !== expectedBytes) throw new Error(`${outFile} has ${size} bytes, expected ${expectedBytes}`);
  return seconds;
}

/**
 * Returns the throughput in MB/s of the supervisor's line handling alone on
 * `log` in memory, in 64 KiB chunks: split, decode, classify, and the rate
 * limiter's check with one clock read per chunk. No I/O.
 */
function lineHandlingThroughput(log: Buffer): number {
  const limiter = new RepeatLimiter(50, 1_000);
  const classifier = new StderrClassifier();
  let nowMs = Date.now();
  let logged = 0;
  const splitter = new LineSplitter((line) => {
    classifier.push(line);
    if (limiter.take('stderr', nowMs).allowed) logged += line.length > 0 ? 1 : 0;
  });
  const startedAt = process.hrtime.bigint();
  for (let offset = 0; offset < log.length; offset += WRITE_BYTES) {
    nowMs = Date.now();
    splitter.push(log.subarray(offset, offset + WRITE_BYTES));
  }
  splitter.end();
  classifier.finish();
  const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
  if (logged === 0) throw new Error('line handling measurement saw no lines');
  return log.length / 1e6 / seconds;
}

/** Runs the writer under `sh -c '"$@" 2>"$BENCH_OUT"'`; resolves with the seconds from spawn to exit. */
async function captureWithShell(command: string[], outFile: string, expectedBytes: number): Promise<number> {
  const startedAt = process.hrtime.bigint();
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    const child = spawn('sh', ['-c', '"$@" 2>"$BENCH_OUT"', 'sh', ...command], {
      stdio: 'ignore',
      env: { ...process.env, BENCH_OUT: outFile },
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
  const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;

  if (exitCode !== 0) throw new Error(`sh -c capture exited with code ${exitCode}`);
  const size = statSync(outFile).size;
  if (size !== expectedBytes) throw new Error(`${outFile} has ${size} bytes, expected ${expectedBytes}`);
  return seconds;
}

export async function run(): Promise<BenchRow[]> {
  const totalBytes = Math.round(envNumber('BENCH_CAPTURE_MIB', 1024) * MIB);
  const rounds = envNumber('BENCH_CAPTURE_ROUNDS', 3);
  const temp = makeTempDir('capture');
  try {
    const sourceFile = path.join(temp.path, 'source.log');
    const source = buildLogBlock(SOURCE_BYTES);
    writeFileSync(sourceFile, source);
    const command = [process.execPath, WRITER_PATH, 'bulk', sourceFile, String(totalBytes), String(WRITE_BYTES)];

    const oursSeconds: number[] = [];
    const shellSeconds: number[] = [];
    const copySeconds: number[] = [];
    for (let round = 0; round < rounds; round++) {
      // Each output is removed before the next capture, so only one large file exists at a time.
      const shellOut = path.join(temp.path, `shell-${round}.log`);
      shellSeconds.push(await captureWithShell(command, shellOut, totalBytes));
      rmSync(shellOut);

      const copyOut = path.join(temp.path, `copy-${round}.log`);
      copySeconds.push(await captureWithPlainCopy(command, copyOut, totalBytes));
      rmSync(copyOut);

      const logDir = path.join(temp.path, `node-${round}`);
      oursSeconds.push(await captureWithSupervisor(command, logDir, totalBytes));
      rmSync(logDir, { recursive: true, force: true });
    }

    const lineMBps = quantile([0, 1, 2].map(() => lineHandlingThroughput(source)), 0.5);
    const ours = quantile(oursSeconds, 0.5);
    const shell = quantile(shellSeconds, 0.5);
    const copy = quantile(copySeconds, 0.5);
    const ratio = ours / shell;
    const rate = (seconds: number) => `${fmt(totalBytes / 1e6 / seconds)} MB/s`;
    return [
      {
        id: '7',
        measure: `capture of ${totalBytes / MIB} MiB written to stderr in 64 KiB writes`,
        ours: `${fmt(ours)} s (${rate(ours)})`,
        baseline: `${fmt(shell)} s (${rate(shell)}), sh -c 'CMD 2>FILE'`,
        ratio: fmt(ratio),
        target: `≤ ${TARGET_RATIO}`,
        pass: ratio <= TARGET_RATIO,
        notes:
          `RunnerSupervisor with its classifier and rate-limited line logging to a null stream; medians of ${rounds} interleaved rounds; ` +
          `bounds: a plain copy of the pipe into a file by Node.js, no lines, ${fmt(copy)} s (${rate(copy)}, ${fmt(copy / shell)} × sh); ` +
          `line handling alone (split, UTF-8 decode of every line, classifier, rate limiter) in memory: ${fmt(lineMBps)} MB/s, ` +
          `so ${fmt(totalBytes / 1e6 / lineMBps)} s of main-thread time for this log`,
      },
    ];
  } finally {
    temp.remove();
  }
}

if (isMainModule(import.meta.url)) {
  console.log(formatTable(await run()));
}
