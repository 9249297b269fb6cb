import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';

import { ExoError } from '../../errors.js';
import type { RedactOptions } from '../redact/options.js';
import { redactFile } from '../redact/redact-file.js';
import { TEMP_SUFFIX } from '../outbox/atomic-write.js';
import type { HashRequest, HashResult } from './hash-file.js';
import { assertStillSameLog, type OpenedLog } from './path-safety.js';
import { PAYLOAD_CHANGED_CODE } from './verify-stream.js';

/** Suffix of redacted payload copies in the temp dir; cleanStaleTempFiles removes those of dead processes. */
export const PAYLOAD_SUFFIX = `.payload${TEMP_SUFFIX}`;

/** Times a range is hashed again when the file changes under the hash, before the attempt fails. */
const MAX_HASH_TRIES = 3;

/** The file whose bytes are uploaded: the redacted copy, or the log itself when redaction is off. */
export interface PayloadFile {
  path: string;
  /** Handle of the original log when it is sent as is; reads go through it, never through the path. */
  handle?: fs.FileHandle;
  /** Removed after the report, when this is a redacted copy. */
  temp: boolean;
  /** Size of the payload file, in bytes. */
  size: number;
  /** Size of the local log, in bytes. */
  originalSize: number;
  redacted: boolean;
  redactionCounts: Record<string, number>;
  /** Size, modification time and inode when the file was last hashed, to notice a change before the PUT. */
  snapshot: FileSnapshot;
}

interface FileSnapshot {
  size: number;
  mtimeMs: number;
  ino: number;
}

/** The bytes announced to the server: `[start, end)` of the payload file. */
export interface PayloadSlice {
  start: number;
  end: number;
  size: number;
  sha256: string;
  /** True when the slice leaves out the start of the file, to fit `maxSize`. */
  truncated: boolean;
}

export interface PayloadOptions {
  logDir: string;
  redact: boolean;
  redactOptions: RedactOptions;
  tempDir: string;
}

/**
 * Returns the file to upload for an opened log. With redaction, the log is
 * streamed through `redactFile` into a private copy in `tempDir`, then the log
 * path is checked again because redaction reads it by path. Without redaction,
 * the opened handle itself is the payload.
 */
export async function buildPayloadFile(opened: OpenedLog, options: PayloadOptions): Promise<PayloadFile> {
  if (!options.redact) {
    return {
      path: opened.path,
      handle: opened.handle,
      temp: false,
      size: opened.stats.size,
      originalSize: opened.stats.size,
      redacted: false,
      redactionCounts: {},
      snapshot: snapshotOf(opened.stats),
    };
  }

  await fs.mkdir(options.tempDir, { recursive: true, mode: 0o700 });
  const target = path.join(options.tempDir, `${process.pid}-${randomBytes(8).toString('hex')}${PAYLOAD_SUFFIX}`);
  try {
    // NOTE: redactFile opens the log by path. The check afterwards catches a file swapped for good
    // meanwhile, but not one swapped and swapped back during the read.
    const result = await redactFile(opened.path, target, options.redactOptions);
    await assertStillSameLog(options.logDir, opened);
    const stats = await fs.stat(target);
    return {
      path: target,
      temp: true,
      size: stats.size,
      originalSize: result.bytesIn,
      redacted: true,
      redactionCounts: { ...result.counts },
      snapshot: snapshotOf(stats),
    };
  } catch (error) {
    await fs.rm(target, { force: true });
    throw error;
  }
}

/** Removes a redacted copy. The handle of an original log belongs to the caller. */
export async function releasePayloadFile(file: PayloadFile): Promise<void> {
  if (file.temp) await fs.rm(file.path, { force: true });
}

function snapshotOf(stats: { size: number; mtimeMs: number; ino: number }): FileSnapshot {
  return { size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino };
}

async function statPayload(file: PayloadFile): Promise<FileSnapshot> {
  return snapshotOf(file.handle === undefined ? await fs.stat(file.path) : await file.handle.stat());
}

function sameSnapshot(a: FileSnapshot, b: FileSnapshot): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino;
}

/** Returns true when the payload file differs in size, modification time or inode from when it was hashed. */
export async function payloadChanged(file: PayloadFile): Promise<boolean> {
  return !sameSnapshot(file.snapshot, await statPayload(file));
}

/**
 * Hashes the slice of the payload that fits `maxSize`: the last `maxSize`
 * bytes, where a crash shows, or the whole file. The file is statted before
 * and after; when it changed meanwhile, it is hashed again, up to
 * MAX_HASH_TRIES times. Updates `file.size` and `file.snapshot`.
 */
export async function hashPayloadSlice(
  file: PayloadFile,
  maxSize: number | undefined,
  hash: (request: HashRequest) => Promise<HashResult>,
): Promise<PayloadSlice> {
  for (let tries = 0; tries < MAX_HASH_TRIES; tries += 1) {
    const before = await statPayload(file);
    if (!file.temp) file.originalSize = before.size;
    const start = maxSize !== undefined && before.size > maxSize ? before.size - maxSize : 0;
    const result = await hash({ path: file.path, fd: file.handle?.fd, start, end: before.size });
    const after = await statPayload(file);

    if (sameSnapshot(before, after) && result.size === before.size - start) {
      file.size = before.size;
      file.snapshot = before;
      return { start, end: before.size, size: result.size, sha256: result.sha256, truncated: start > 0 };
    }
  }
  throw new ExoError(PAYLOAD_CHANGED_CODE, `${file.path} kept changing while it was hashed (${MAX_HASH_TRIES} tries); it is tried again later`);
}

/** Returns a stream of the slice's bytes, read through the log's handle when there is one. */
export function readPayloadSlice(file: PayloadFile, slice: PayloadSlice): Readable {
  // `end` of a read stream is inclusive.
  const range = { start: slice.start, end: slice.end - 1, highWaterMark: 256 * 1024 };
  if (file.handle !== undefined) return file.handle.createReadStream({ ...range, autoClose: false });
  return createReadStream(file.path, range);
}
