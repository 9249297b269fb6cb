/**
 * Row 9: throughput of StderrClassifier over a large mixed runner log, against a
 * plain line split of the same bytes (decode, split on `\n`, drop one `\r`, skip
 * empty lines). Both sides split the log the same way in 64 KiB chunks, as the
 * supervisor receives it, and run in interleaved rounds in one process so that
 * machine noise hits both alike. Run alone with `node dist/bench/classifier.js`.
 *
 * The log is built in memory: ordinary runner lines (logging, metrics, progress
 * bars) with the crash fixtures spliced in every few hundred lines. A second,
 * ASCII-only log without progress bars is measured for the notes, because V8
 * decodes and splits a chunk with any non-Latin-1 character more slowly, which
 * makes the ratio look better.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { StderrClassifier } from '../src/diagnostics/classifier.js';
import { STREAM_PREFILTER } from '../src/diagnostics/rules/index.js';
import { fmt, formatTable, quantile, type BenchRow } from './table.js';

/** Size of each generated log. */
const LOG_BYTES = 64 * 1024 * 1024;
/** Chunk size of the simulated stderr pipe reads. */
const CHUNK_BYTES = 64 * 1024;
/** Ordinary lines between two spliced crash fixtures. */
const ORDINARY_LINES_PER_FIXTURE = 400;
/** Timed rounds per side; the median is reported. */
const ROUNDS = 7;
const TARGET_RATIO = 0.5;

const fixturesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'fixtures', 'runner-stderr');

/** Ordinary stderr lines of MLX, vLLM and llama.cpp runners; `#` is replaced by a counter. */
const ORDINARY_TEMPLATES = [
  '2026-05-28 14:03:07.# | INFO     | exo.worker.runner.bootstrap:entrypoint:61 - runner r0 handling task #',
  '2026-05-28 14:03:07.# | DEBUG    | exo.worker.engines.mlx.utils_mlx:load_mlx_items:212 - loaded layers 0-15 of 32 in 4.# s',
  'INFO 04-19 12:21:04 [engine.py:210] Added request chatcmpl-#; prompt tokens=512, max tokens=1024, timeout=30',
  'INFO 04-19 12:21:05 [metrics.py:351] Avg prompt throughput: 812.# tokens/s, Avg generation throughput: 43.2 tokens/s, Running: 4 reqs, Pending: 0 reqs, GPU KV cache usage: 61.2%',
  'WARNING 04-19 12:21:06 [config.py:1203] tokenizer of request # has no chat template; using the built-in one',
  'llama_model_loader: - kv  #:                    llama.rope.freq_base f32              = 500000.000000',
  'llm_load_tensors: offloaded 33/33 layers to GPU, CPU buffer size = #.81 MiB',
  'DEBUG generate: step=# tokens_per_second=43.2 kv_cache_usage=0.61 batch=4 queue=0',
  '[2026-05-28 14:03:09,#] peer 10.0.0.2:52415 connected, latency 0.41 ms, bandwidth 9.7 GB/s',
  'prefill progress #/8192, elapsed 1.42s, eta 4.27s',
];
/**
 * A line that passes the prefilter without being a diagnostic, as metric names
 * and housekeeping messages do ("errors_total", "killed 3 stale workers").
 */
const NEAR_MISS = 'INFO 04-19 12:21:07 [pool.py:88] killed # stale workers after reconnect; errors_total=0';
const NEAR_MISS_EVERY = 100;
/** A tqdm bar redrawn with `\r`, as model loading prints it. */
const PROGRESS_BAR = ' 45%|████▌     | 30/67 [12:41<15:38, 25.36s/it]\r 46%|████▋     | #/67 [13:06<15:12, 25.35s/it]';
const PROGRESS_BAR_EVERY = 100;

interface Measurement {
  megabytesPerSecond: number;
  lines: number;
}

/** Builds a log of about LOG_BYTES from ordinary lines and the crash fixtures. */
export function buildMixedLog(options: { asciiOnly: boolean }): Buffer {
  const fixtures = fs
    .readdirSync(fixturesDir)
    .filter((name) => name.endsWith('.stderr.log'))
    .sort()
    .map((name) => fs.readFileSync(path.join(fixturesDir, name)))
    .filter((bytes) => !options.asciiOnly || bytes.every((byte) => byte < 0x80))
    .map((bytes) => (bytes[bytes.length - 1] === 0x0a ? bytes : Buffer.concat([bytes, Buffer.from('\n')])));

  const parts: Buffer[] = [];
  let size = 0;
  for (let line = 0; size < LOG_BYTES; line++) {
    let text: string;
    if (!options.asciiOnly && line % PROGRESS_BAR_EVERY === 0) {
      text = PROGRESS_BAR.replace('#', String(line % 67));
    } else if (line % NEAR_MISS_EVERY === NEAR_MISS_EVERY / 2) {
      text = NEAR_MISS.replace('#', String(line % 7));
    } else {
      text = ORDINARY_TEMPLATES[line % ORDINARY_TEMPLATES.length]!.replaceAll('#', String(line));
    }
    const bytes = Buffer.from(`${text}\n`);
    parts.push(bytes);
    size += bytes.length;
    if (line % ORDINARY_LINES_PER_FIXTURE === ORDINARY_LINES_PER_FIXTURE - 1 && fixtures.length > 0) {
      const fixture = fixtures[(line / ORDINARY_LINES_PER_FIXTURE) % fixtures.length | 0]!;
      parts.push(fixture);
      size += fixture.length;
    }
  }
  return Buffer.concat(parts);
}

/** Splits the log in pipe-sized chunks, as the supervisor receives it, and passes each line to `onLine`. */
function splitLines(log: Buffer, onLine: (line: string) => void): void {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  for (let offset = 0; offset < log.length; offset += CHUNK_BYTES) {
    const lines = (partial + decoder.write(log.subarray(offset, offset + CHUNK_BYTES))).split('\n');
    partial = lines.pop()!;
    for (const raw of lines) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (line.length > 0) onLine(line);
    }
  }
  const last = partial + decoder.end();
  if (last.length > 0) onLine(last);
}

function timeSplit(log: Buffer): Measurement {
  let lines = 0;
  const start = process.hrtime.bigint();
  splitLines(log, () => {
    lines += 1;
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { megabytesPerSecond: log.length / 1e6 / seconds, lines };
}

function timeClassifier(log: Buffer): Measurement & { kinds: number } {
  let lines = 0;
  const classifier = new StderrClassifier();
  const start = process.hrtime.bigint();
  splitLines(log, (line) => {
    lines += 1;
    classifier.push(line);
  });
  const report = classifier.finish();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { megabytesPerSecond: log.length / 1e6 / seconds, lines, kinds: new Set(report.diagnostics.map((d) => d.kind)).size };
}

/** Returns the median throughput of each side over interleaved rounds, after one warm-up round each. */
function compare(log: Buffer): { ours: number; baseline: number; lines: number; kinds: number } {
  timeSplit(log);
  timeClassifier(log);
  const ours: number[] = [];
  const baseline: number[] = [];
  let lines = 0;
  let kinds = 0;
  for (let round = 0; round < ROUNDS; round++) {
    baseline.push(timeSplit(log).megabytesPerSecond);
    const measured = timeClassifier(log);
    ours.push(measured.megabytesPerSecond);
    lines = measured.lines;
    kinds = measured.kinds;
  }
  return { ours: quantile(ours, 0.5), baseline: quantile(baseline, 0.5), lines, kinds };
}

/** Share of the log's lines that pass the prefilter and get the full rules. */
function candidateShare(log: Buffer): number {
  let lines = 0;
  let candidates = 0;
  splitLines(log, (line) => {
    lines += 1;
    if (STREAM_PREFILTER.test(line)) candidates += 1;
  });
  return candidates / lines;
}

export async function run(): Promise<BenchRow[]> {
  const mixed = buildMixedLog({ asciiOnly: false });
  const mixedResult = compare(mixed);
  const ascii = buildMixedLog({ asciiOnly: true });
  const asciiResult = compare(ascii);

  const ratio = mixedResult.ours / mixedResult.baseline;
  const asciiRatio = asciiResult.ours / asciiResult.baseline;
  const notes = [
    `${fmt(mixed.length / 1024 / 1024)} MiB, ${mixedResult.lines} lines, ${mixedResult.kinds} kinds found`,
    `${fmt(candidateShare(mixed) * 100, 2)}% of lines pass the prefilter`,
    `ASCII-only log without progress bars: ${fmt(asciiResult.ours)} vs ${fmt(asciiResult.baseline)} MB/s, ratio ${fmt(asciiRatio, 2)}`,
    `median of ${ROUNDS} interleaved rounds, Node ${process.version}`,
  ];
  return [
    {
      id: '9',
      measure: 'classifier throughput on a large mixed log',
      ours: `${fmt(mixedResult.ours)} MB/s`,
      baseline: `${fmt(mixedResult.baseline)} MB/s`,
      ratio: fmt(ratio, 2),
      target: `≥ ${TARGET_RATIO}`,
      pass: ratio >= TARGET_RATIO,
      notes: notes.join('; '),
    },
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(formatTable(await run()));
}
