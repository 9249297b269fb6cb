/**
 * Throughput of crash log redaction on a large synthetic log, printed when run
 * directly: `node dist/bench/redact.js [size in MiB, default 256]`.
 *
 * The log mixes the runner stderr fixtures, vLLM-style timestamped lines, tqdm
 * progress bars and Python tracebacks, with one secret-bearing line in about every
 * 400 lines. The baseline is a plain copy through the same 64 KiB read and write loop,
 * so the ratio shows what redaction adds to the upload path.
 */
import { mkdtemp, open, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { Redactor } from '../src/telemetry/redact/redactor.js';
import { redactFile } from '../src/telemetry/redact/redact-file.js';
import type { RedactOptions } from '../src/telemetry/redact/options.js';
import { fixturesDir } from '../test/helpers/paths.js';
import { fmt } from './table.js';

const MIB = 1024 * 1024;

const BENCH_OPTIONS: RedactOptions = {
  userNames: ['jdoe'],
  hostNames: ['buildbox-17', 'buildbox-17.example.net'],
  homeDirs: ['/srv/homes/jdoe'],
};

const SECRET_LINES = [
  'export HF_TOKEN=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\n',
  'POST https://deploy:Pa55w0rd@registry.example.net/v2/ failed: 401\n',
  '  File "/home/jdoe/exo/src/exo/worker/runner/bootstrap.py", line 75, in entrypoint\n',
  'peer 192.0.2.44:52415 unreachable, retrying via [2001:db8::17]:52415\n',
  'notify jane.doe@example.com: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqZG9lIn0.c2lnbmF0dXJlLXNpZw\n',
];

const FILLER_LINES = [
  '(EngineCore pid=229) INFO 04-19 12:21:04 [core.py:1134] Avg prompt throughput: 12.4 tokens/s, Avg generation throughput: 35.2 tokens/s, Running: 1 reqs\n',
  '(EngineCore pid=229) WARNING 04-19 12:21:05 [scheduler.py:88] max_tokens=512 exceeds the remaining KV cache; using 384\n',
  ' 42%|████████▍           | 28/67 [12:03<16:47, 25.84s/it]\r 43%|████████▌           | 29/67 [12:29<16:21, 25.84s/it]\n',
  'Traceback (most recent call last):\n',
  '  File "exo/worker/engines/mlx/utils_mlx.py", line 159, in initialize_mlx\n',
  '    model = load_model(path, dtype=mx.float16, lazy=True)\n',
  'libc++abi: terminating due to uncaught exception of type std::runtime_error: [METAL] Command buffer execution failed\n',
  '[ring] Receiving from socket 51 failed with errno 14\n',
  '2026-05-28 14:03:07.123 | DEBUG | exo.worker.download:fetch:211 - shard 3/8 layer 17 bytes=4194304 sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n',
];

/** Writes a synthetic log of about `sizeBytes` to `filePath`. */
async function writeSyntheticLog(filePath: string, sizeBytes: number): Promise<number> {
  const fixtureNames = (await readdir(fixturesDir)).filter((name) => name.endsWith('.log'));
  const fixtures = await Promise.all(fixtureNames.map((name) => readFile(path.join(fixturesDir, name))));

  const pieces: Buffer[] = [];
  let lineNumber = 0;
  let blockSize = 0;
  while (blockSize < 4 * MIB) {
    lineNumber++;
    let piece: Buffer;
    if (lineNumber % 400 === 0) piece = Buffer.from(SECRET_LINES[(lineNumber / 400) % SECRET_LINES.length]!);
    else if (lineNumber % 97 === 0) piece = Buffer.concat([fixtures[lineNumber % fixtures.length]!, Buffer.from('\n')]);
    else piece = Buffer.from(FILLER_LINES[lineNumber % FILLER_LINES.length]!);
    pieces.push(piece);
    blockSize += piece.length;
  }
  const block = Buffer.concat(pieces);

  const handle = await open(filePath, 'w');
  let written = 0;
  try {
    while (written < sizeBytes) {
      await handle.write(block);
      written += block.length;
    }
  } finally {
    await handle.close();
  }
  return written;
}

/** Copies `source` to `target` through the same read and write loop as redactFile, without redaction. */
async function plainCopy(source: string, target: string): Promise<void> {
  const input = await open(source, 'r');
  const output = await open(target, 'wx', 0o600);
  try {
    const buffer = Buffer.allocUnsafe(64 * 1024);
    for (;;) {
      const { bytesRead } = await input.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      await output.write(buffer.subarray(0, bytesRead));
    }
  } finally {
    await input.close();
    await output.close();
  }
}

export interface RedactBenchResult {
  sizeBytes: number;
  redactFileMBps: number;
  plainCopyMBps: number;
  inMemoryMBps: number;
  counts: Record<string, number>;
}

/** Measures redaction throughput on a synthetic log of `sizeMiB` MiB in a fresh temporary folder. */
export async function runRedactBench(sizeMiB = 256): Promise<RedactBenchResult> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'exo-redact-bench-'));
  try {
    const logPath = path.join(folder, 'runner.stderr.log');
    const sizeBytes = await writeSyntheticLog(logPath, sizeMiB * MIB);
    const megabytes = sizeBytes / 1e6;

    let started = performance.now();
    await plainCopy(logPath, path.join(folder, 'copy.log'));
    const plainCopyMBps = megabytes / ((performance.now() - started) / 1000);

    started = performance.now();
    const result = await redactFile(logPath, path.join(folder, 'redacted.log'), BENCH_OPTIONS);
    const redactFileMBps = megabytes / ((performance.now() - started) / 1000);

    const sample = (await readFile(logPath)).subarray(0, Math.min(sizeBytes, 64 * MIB));
    started = performance.now();
    const redactor = new Redactor(BENCH_OPTIONS);
    for (let offset = 0; offset < sample.length; offset += 64 * 1024) redactor.push(sample.subarray(offset, offset + 64 * 1024));
    redactor.end();
    const inMemoryMBps = sample.length / 1e6 / ((performance.now() - started) / 1000);

    return { sizeBytes, redactFileMBps, plainCopyMBps, inMemoryMBps, counts: result.counts };
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const sizeMiB = Number(process.argv[2] ?? 256);
  const result = await runRedactBench(sizeMiB);
  console.log(`synthetic log: ${fmt(result.sizeBytes / MIB)} MiB, node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}`);
  console.log(`redactFile:      ${fmt(result.redactFileMBps)} MB/s`);
  console.log(`plain copy:      ${fmt(result.plainCopyMBps)} MB/s (same read and write loop, no redaction)`);
  console.log(`ratio:           ${fmt(result.redactFileMBps / result.plainCopyMBps)} of plain copy throughput`);
  console.log(`Redactor only:   ${fmt(result.inMemoryMBps)} MB/s (64 KiB chunks from memory, no file I/O)`);
  console.log(`findings:        ${JSON.stringify(result.counts)}`);
}
