/**
 * Piscina task: hashes a byte range of a file off the uploader thread's event
 * loop, so that loop stays free for sockets and timers while a large log is read.
 * Input `{ path, fd?, start?, end? }` with `end` exclusive; output `{ sha256, size }`.
 * With `fd`, the task reads the uploader's open descriptor of the log (threads
 * share the process's descriptors), so it hashes the file the uploader checked.
 */
import { hashFileRange, type HashRequest, type HashResult } from '../src/telemetry/upload/hash-file.js';

export default async function hashTask(request: HashRequest): Promise<HashResult> {
  return hashFileRange(request);
}
