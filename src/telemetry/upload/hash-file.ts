import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/**
 * A byte range of a file to hash. `end` is exclusive; a missing one means the
 * end of the file. With `fd`, the bytes are read through that open descriptor
 * (worker threads share the process's descriptors) and `path` only names the
 * file in errors, so the bytes hashed are those of the file that was opened.
 */
export interface HashRequest {
  path: string;
  fd?: number;
  start?: number;
  end?: number;
}

export interface HashResult {
  /** Lowercase hex SHA-256 of the bytes read. */
  sha256: string;
  /** Number of bytes read, which is less than `end - start` when the file is shorter. */
  size: number;
}

/** Hashes a byte range of a file, streamed in 1 MiB reads so memory stays flat for any file size. */
export async function hashFileRange(request: HashRequest): Promise<HashResult> {
  const start = request.start ?? 0;
  if (request.end !== undefined && request.end <= start) {
    return { sha256: createHash('sha256').digest('hex'), size: 0 };
  }

  const hash = createHash('sha256');
  let size = 0;
  // createReadStream's `end` is inclusive, hence the minus one. A given fd stays open: its owner closes it.
  const stream = createReadStream(request.path, {
    fd: request.fd,
    autoClose: request.fd === undefined,
    start,
    end: request.end === undefined ? undefined : request.end - 1,
    highWaterMark: 1024 * 1024,
  });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}
