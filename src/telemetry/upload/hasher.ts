import { Piscina } from 'piscina';

import type { HashRequest, HashResult } from './hash-file.js';

/**
 * Compiled location of the hash task. This file compiles to
 * `dist/src/telemetry/upload/hasher.js` and the task to `dist/workers/hash-task.js`.
 */
export const HASH_TASK_URL = new URL('../../../workers/hash-task.js', import.meta.url);

/** Hashes byte ranges of files. */
export interface FileHasher {
  hash(request: HashRequest, signal?: AbortSignal): Promise<HashResult>;
  destroy(): Promise<void>;
}

/**
 * Creates a hasher backed by one piscina thread, nested in the uploader thread.
 * The thread starts on the first task and ends after a minute idle, so a node
 * whose runners never crash has no hashing thread.
 */
export function createPiscinaHasher(): FileHasher {
  const pool = new Piscina<HashRequest, HashResult>({
    filename: HASH_TASK_URL.href,
    minThreads: 0,
    maxThreads: 1,
    idleTimeout: 60_000,
  });
  return {
    hash: (request, signal) => pool.run(request, { signal }),
    destroy: () => pool.destroy(),
  };
}
