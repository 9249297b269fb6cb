import { promises as fs } from 'node:fs';
import path from 'node:path';

import { ExoError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { runnerLogFolder, STDERR_LOG_NAME_PATTERN } from '../../node/log-dir.js';
import type { OutboxReader } from './types.js';

export const DEFAULT_RUNNER_LOG_KEEP = 20;

export interface PruneOptions {
  /**
   * True when the node runs with `--telemetry` (the default, the safer
   * assumption). Then a log without an outbox entry is kept, because its
   * submission may still be in the ring on its way to the uploader.
   */
  telemetry?: boolean;
  logger?: Logger;
}

export interface PruneResult {
  deleted: string[];
  /** Logs past `keep` that were kept because their report may still be sent. */
  keptForTelemetry: string[];
}

/** Sort key of a log file name: its timestamp, then the `-N` suffix of a second start in the same microsecond. */
function startOrder(name: string): [string, number] | undefined {
  const match = STDERR_LOG_NAME_PATTERN.exec(name);
  if (match === null) return undefined;
  const suffix = /-(\d+)\.stderr\.log$/.exec(name);
  return [match[1], suffix === null ? 0 : Number(suffix[1])];
}

function newestFirst(a: { order: [string, number] }, b: { order: [string, number] }): number {
  if (a.order[0] !== b.order[0]) return a.order[0] < b.order[0] ? 1 : -1;
  return b.order[1] - a.order[1];
}

/**
 * Deletes the oldest stderr logs of one runner so that at most `keep` remain,
 * except logs whose report may still be sent:
 * - a log with a pending outbox entry is never deleted;
 * - with telemetry on, a log with no outbox entry is never deleted either.
 * Logs whose report is delivered, rejected, gone, skipped or dry-run may go.
 * Only regular files whose names match the stderr log pattern are touched.
 */
export async function pruneRunnerLogs(
  logDir: string,
  instanceId: string,
  runnerId: string,
  keep: number,
  outbox: OutboxReader,
  options: PruneOptions = {},
): Promise<PruneResult> {
  if (!Number.isSafeInteger(keep) || keep < 1) {
    throw new ExoError('ERR_INVALID_RUNNER_LOG_KEEP', `invalid runner log keep count ${String(keep)}: expected an integer of 1 or more`);
  }
  const telemetry = options.telemetry ?? true;
  const folder = runnerLogFolder(logDir, instanceId, runnerId);

  let names: string[];
  try {
    names = await fs.readdir(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { deleted: [], keptForTelemetry: [] };
    throw error;
  }

  const logs = names
    .map((name) => ({ name, order: startOrder(name) }))
    .filter((log): log is { name: string; order: [string, number] } => log.order !== undefined)
    .sort(newestFirst);

  const result: PruneResult = { deleted: [], keptForTelemetry: [] };
  for (const { name } of logs.slice(keep)) {
    const file = path.join(folder, name);
    const stats = await fs.lstat(file).catch(() => undefined);
    if (stats === undefined || !stats.isFile()) continue;

    const entry = await outbox.read(`${instanceId}/${runnerId}/${name}`);
    const mayStillBeSent = entry === undefined ? telemetry : entry.state === 'pending';
    if (mayStillBeSent) {
      result.keptForTelemetry.push(file);
      continue;
    }

    await fs.rm(file, { force: true });
    result.deleted.push(file);
  }

  if (result.deleted.length > 0 || result.keptForTelemetry.length > 0) {
    options.logger?.debug('runner logs pruned', {
      instanceId,
      runnerId,
      keep,
      deleted: result.deleted.length,
      keptForTelemetry: result.keptForTelemetry.length,
    });
  }
  return result;
}
