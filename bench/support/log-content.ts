import { open } from 'node:fs/promises';

/**
 * Ordinary stderr lines of inference runners (MLX, vLLM, llama.cpp style); `#`
 * becomes a line counter, so no two lines of a block are equal.
 */
const ORDINARY_LINES = [
  '2026-05-28 14:03:07.# | INFO     | exo.worker.runner:serve_task:118 - task # done in 41.2 ms, 512 tokens',
  'INFO 05-28 14:03:07 [scheduler.py:402] step #: running 4 reqs, waiting 0 reqs, KV cache usage 58.1%, 43.1 tokens/s',
  'llama_kv_cache_unified: layer #: dev = Metal, size = 24.00 MiB, K (f16): 12.00 MiB, V (f16): 12.00 MiB',
  '[mlx] eval #: prefill 2048 tokens in 0.93 s, decode 38.4 tokens/s, peak memory 21.4 GB',
  'DEBUG 05-28 14:03:08 [ring.py:77] sent shard 3 of 8 to the next node: 4194304 bytes in 0.41 ms (seq #)',
  'WARNING 05-28 14:03:09 [config.py:512] sampling parameter top_k=-1 ignored for request chatcmpl-#',
  'Loading safetensors checkpoint shards: 37% Completed | 3/8 [00:04<00:06,  1.32s/it] (#)',
];
/** A tqdm bar redrawn with `\r`, with non-ASCII block characters as model loading prints it. */
const PROGRESS_BAR = ' 45%|████▌     | 30/67 [12:41<15:38, 25.36s/it]\r 46%|████▋     | #/67 [13:06<15:12, 25.35s/it]';
/** A line that contains "error" without being one: it passes the classifier's prefilter. */
const NEAR_MISS = 'INFO 05-28 14:03:10 [metrics.py:61] errors_total=0 retries_total=# stale workers killed: 0';
/** Lines that redaction rewrites: a home path, an address with a host name, an e-mail address. */
const IDENTITY_LINES = [
  '  File "/home/jdoe/exo/src/exo/worker/runner/runner.py", line #, in main',
  'peer 192.0.2.44:52415 (buildbox-17) connected, handshake #',
  'notify ops-oncall@example.com: job # finished',
];
/** A crash report as a runner prints it before dying, spliced in rarely. */
const CRASH_EXCERPT = [
  'Traceback (most recent call last):',
  '  File "/opt/exo/src/exo/worker/runner/runner.py", line 212, in generate',
  '    out = model(tokens, cache=cache)',
  'RuntimeError: [METAL] Command buffer execution failed: Caused GPU Timeout Error (00000002:kIOGPUCommandBufferCallbackErrorTimeout)',
];

const PROGRESS_BAR_EVERY = 50;
const NEAR_MISS_EVERY = 100;
const IDENTITY_EVERY = 400;
const CRASH_EVERY = 20_000;

/** Returns about `targetBytes` of ordinary runner stderr, whole lines ending in `\n`. */
export function buildLogBlock(targetBytes: number): Buffer {
  const lines: string[] = [];
  let size = 0;
  for (let line = 1; size < targetBytes; line++) {
    let text: string;
    if (line % CRASH_EVERY === 0) {
      text = CRASH_EXCERPT.join('\n');
    } else if (line % IDENTITY_EVERY === 0) {
      text = IDENTITY_LINES[(line / IDENTITY_EVERY) % IDENTITY_LINES.length]!;
    } else if (line % NEAR_MISS_EVERY === 0) {
      text = NEAR_MISS;
    } else if (line % PROGRESS_BAR_EVERY === 0) {
      text = PROGRESS_BAR;
    } else {
      text = ORDINARY_LINES[line % ORDINARY_LINES.length]!;
    }
    text = `${text.replaceAll('#', String(line))}\n`;
    lines.push(text);
    size += Buffer.byteLength(text);
  }
  return Buffer.from(lines.join(''));
}

/** Returns one ordinary runner line, numbered `index`, with its `\n`. */
export function ordinaryLine(index: number): string {
  return `${ORDINARY_LINES[index % ORDINARY_LINES.length]!.replaceAll('#', String(index))}\n`;
}

/** Size of the block that writeLogFile repeats; large enough that the repetition is far apart. */
const FILE_BLOCK_BYTES = 16 * 1024 * 1024;
let cachedBlock: Buffer | undefined;

/**
 * Writes a log of exactly `sizeBytes`: a first line naming `tag`, so files of
 * the same size hash differently, then one block of runner lines over and over.
 */
export async function writeLogFile(filePath: string, sizeBytes: number, tag: string): Promise<void> {
  cachedBlock ??= buildLogBlock(FILE_BLOCK_BYTES);
  const block = cachedBlock;
  const file = await open(filePath, 'wx', 0o644);
  try {
    const header = Buffer.from(`benchmark log ${tag}\n`);
    let written = (await file.write(header, 0, Math.min(header.length, sizeBytes))).bytesWritten;
    while (written < sizeBytes) {
      const length = Math.min(block.length, sizeBytes - written);
      written += (await file.write(block, 0, length)).bytesWritten;
    }
  } finally {
    await file.close();
  }
}
