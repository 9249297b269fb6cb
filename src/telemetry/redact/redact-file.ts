import { open, unlink, type FileHandle } from 'node:fs/promises';

import { ExoError } from '../../errors.js';
import type { RedactionCounts } from './kinds.js';
import type { RedactOptions } from './options.js';
import { Redactor } from './redactor.js';

/** Size of each read from the source log. */
const READ_CHUNK_BYTES = 64 * 1024;

export interface RedactFileRange {
  /**
   * Byte offset to start reading at, such as `size - maxSize` to send only the end of
   * a huge log. When the offset falls inside a line, that partial line is dropped
   * (see RedactorStreamOptions). Default 0.
   */
  start?: number;
}

export interface RedactResult {
  /** Bytes read from the source, from `start` on. */
  bytesIn: number;
  /** Bytes written to the target. */
  bytesOut: number;
  /** Replacements per kind, such as `{ hf_token: 1, email: 2 }`. */
  counts: RedactionCounts;
}

/**
 * Streams `sourcePath` through a Redactor into `targetPath`, which must not exist
 * yet and is created with mode 0600. The source is only read. On failure the
 * partial target is removed and the promise rejects with the cause.
 */
export async function redactFile(
  sourcePath: string,
  targetPath: string,
  options: RedactOptions,
  range: RedactFileRange = {},
): Promise<RedactResult> {
  const start = range.start ?? 0;
  if (!Number.isSafeInteger(start) || start < 0) {
    throw new ExoError('ERR_REDACT_INVALID_START', `Invalid start offset ${String(start)} for ${sourcePath}: pass a byte offset that is a non-negative integer`);
  }

  const source = await open(sourcePath, 'r');
  let target: FileHandle | undefined;
  try {
    target = await open(targetPath, 'wx', 0o600);
    const startsMidLine = start > 0 && !(await followsNewline(source, start));
    const redactor = new Redactor(options, { startsMidStream: start > 0, startsMidLine });
    return await copyRedacted(source, target, redactor, start);
  } catch (error) {
    if (target !== undefined) {
      await target.close().catch(() => undefined);
      target = undefined;
      await unlink(targetPath).catch(() => undefined);
    }
    throw error;
  } finally {
    await target?.close();
    await source.close();
  }
}

/**
 * Reads into two buffers in turn, so that the next read runs in the libuv thread pool
 * while this thread redacts the current chunk.
 */
async function copyRedacted(source: FileHandle, target: FileHandle, redactor: Redactor, start: number): Promise<RedactResult> {
  const buffers = [Buffer.allocUnsafe(READ_CHUNK_BYTES), Buffer.allocUnsafe(READ_CHUNK_BYTES)];
  let position = start;
  let bytesOut = 0;
  let current = 0;
  let nextRead = source.read(buffers[current]!, 0, READ_CHUNK_BYTES, position);

  try {
    for (;;) {
      const { bytesRead, buffer } = await nextRead;
      if (bytesRead === 0) break;
      position += bytesRead;
      current = 1 - current;
      nextRead = source.read(buffers[current]!, 0, READ_CHUNK_BYTES, position);
      bytesOut += await writeAll(target, redactor.push(buffer.subarray(0, bytesRead)));
    }
  } finally {
    // A failed write leaves a read in flight, which must end before the file is closed.
    await nextRead.catch(() => undefined);
  }
  bytesOut += await writeAll(target, redactor.end());

  return { bytesIn: position - start, bytesOut, counts: redactor.counts };
}

/** Returns true when the byte before `offset` is a newline, so the stream starts at a line start. */
async function followsNewline(source: FileHandle, offset: number): Promise<boolean> {
  const previous = Buffer.alloc(1);
  const { bytesRead } = await source.read(previous, 0, 1, offset - 1);
  return bytesRead === 1 && previous[0] === 0x0a;
}

async function writeAll(target: FileHandle, bytes: Buffer): Promise<number> {
  let written = 0;
  while (written < bytes.length) {
    const result = await target.write(bytes, written, bytes.length - written);
    written += result.bytesWritten;
  }
  return written;
}
