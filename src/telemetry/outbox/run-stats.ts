import { promises as fs } from 'node:fs';
import path from 'node:path';

import { writeFileAtomic } from './atomic-write.js';
import { runStatsFile } from './layout.js';

/** Counters of one run of the uploader, shown by `exo telemetry status`. */
export interface RunStats {
  mode: 'upload' | 'dry-run';
  startedAtMs: number;
  /** When the counters were written: at drain or close, so the last write of a run wins. */
  writtenAtMs: number;
  /** Submissions the uploader took in. */
  received: number;
  /** Reports delivered (PUT returned 2xx). */
  sent: number;
  /** Submissions lost before the outbox: the ring was full, or the uploader was closed. */
  dropped: number;
  /** Attempts that failed, at any step. */
  failed: number;
  /** Retries scheduled after a failed attempt. */
  retried: number;
  /** Reports the server or the path check refused for good. */
  rejected: number;
  /** Payload bytes of delivered reports. */
  bytesSent: number;
  /** Reports still pending in the outbox when the counters were written. */
  pending: number;
}

/** Writes the counters of the current run, replacing those of the previous one. */
export async function writeRunStats(logDir: string, stats: RunStats): Promise<void> {
  const file = runStatsFile(logDir);
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, `${JSON.stringify(stats, null, 2)}\n`);
}

/** Returns the counters of the last run, or undefined when no run wrote any (or the file is unreadable). */
export async function readLastRunStats(logDir: string): Promise<RunStats | undefined> {
  try {
    return JSON.parse(await fs.readFile(runStatsFile(logDir), 'utf8')) as RunStats;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || error instanceof SyntaxError) return undefined;
    throw error;
  }
}
