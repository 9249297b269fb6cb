/**
 * A runner stand-in for the benchmarks, started as a child process:
 *
 * - `steady LINES_PER_SECOND`: writes ordinary runner lines to stderr at a
 *   steady rate until it is killed;
 * - `bulk SOURCE_FILE TOTAL_BYTES BLOCK_BYTES`: writes TOTAL_BYTES to stderr in
 *   writes of BLOCK_BYTES, cycling through the bytes of SOURCE_FILE, then exits 0.
 *
 * It writes to fd 2 with fs.writeSync and never touches process.stderr, so the
 * descriptor stays blocking, as the parent passed it. Each write is then one
 * system call of the block size, as a C or Python runner would make it.
 */
import { readFileSync, writeSync } from 'node:fs';

import { ordinaryLine } from './log-content.js';

const STDERR_FD = 2;
const pause = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `bytes` to fd 2, waiting 1 ms on EAGAIN in case the descriptor is non-blocking after all. */
function writeAll(bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(STDERR_FD, bytes, offset, bytes.length - offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

function runSteady(linesPerSecond: number): void {
  let index = 0;
  setInterval(() => {
    index += 1;
    writeAll(Buffer.from(ordinaryLine(index)));
  }, 1000 / linesPerSecond);
}

function runBulk(sourceFile: string, totalBytes: number, blockBytes: number): void {
  const source = readFileSync(sourceFile);
  if (source.length < blockBytes) throw new Error(`source file ${sourceFile} is smaller than one block of ${blockBytes} bytes`);
  let written = 0;
  let offset = 0;
  while (written < totalBytes) {
    if (offset + blockBytes > source.length) offset = 0;
    const length = Math.min(blockBytes, totalBytes - written);
    writeAll(source.subarray(offset, offset + length));
    offset += length;
    written += length;
  }
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'steady') {
  runSteady(Number(args[0]));
} else if (mode === 'bulk') {
  runBulk(args[0]!, Number(args[1]), Number(args[2]));
} else {
  process.exitCode = 2;
  writeSync(STDERR_FD, `usage: stderr-writer steady LINES_PER_SECOND | bulk SOURCE_FILE TOTAL_BYTES BLOCK_BYTES (got ${String(mode)})\n`);
}
