import { promises as fs } from 'node:fs';
import path from 'node:path';

import type { Logger } from '../../log/logger.js';
import { Outbox } from '../outbox/outbox.js';
import { parseReportId, reportIdFor } from '../outbox/report-id.js';
import type { OutboxEntry } from '../outbox/types.js';
import { submissionForUnknownEnd, type Submission } from '../submission.js';
import type { UploaderConfig } from './config.js';
import { ReportUploader, type ReportOutcome } from './report-uploader.js';

export interface UploadProgress {
  id: string;
  outcome: ReportOutcome | 'not-found';
  /** Reports finished so far, this one included. */
  done: number;
  total: number;
}

/**
 * Returns a submission for a log that has no outbox entry yet (a log from
 * before telemetry was turned on). Exit status and diagnostics are unknown.
 */
async function submissionForLog(logDir: string, id: string): Promise<Submission | undefined> {
  const parts = parseReportId(id);
  if (parts === undefined) return undefined;
  const logPath = path.join(logDir, 'runner_log', ...id.split('/'));
  const stats = await fs.lstat(logPath).catch(() => undefined);
  if (stats === undefined || !stats.isFile()) return undefined;
  return submissionForUnknownEnd(parts, logPath, stats.mtimeMs);
}

/**
 * Sends reports now, for `exo telemetry upload`: every pending report with
 * `'all'`, or the reports named by id or by absolute log path.
 *
 * A named report in dry-run, gone or skipped state, or a log with no entry
 * yet, is made pending first, because the operator asked for it by name.
 * Delivered and rejected reports are never sent again. Calls `onProgress` once
 * per report and resolves when each one has ended (delivered, rejected, or
 * left pending once its attempt budget is spent).
 *
 * NOTE: run it while no node uses the same log dir: two writers of one outbox
 * could each send a report once.
 */
export async function uploadPending(
  config: UploaderConfig,
  targets: readonly string[] | 'all',
  logger: Logger,
  onProgress: (progress: UploadProgress) => void = () => {},
): Promise<UploadProgress[]> {
  const uploader = new ReportUploader({ ...config, mode: 'upload', backgroundRequeue: false }, logger);
  await uploader.start();
  const outbox = uploader.outboxStore as Outbox;

  const ids = targets === 'all' ? outbox.pending().map((entry) => entry.id) : await resolveTargets(config.logDir, targets, outbox);
  const results: UploadProgress[] = [];
  const report = (id: string, outcome: UploadProgress['outcome']) => {
    const progress: UploadProgress = { id, outcome, done: results.length + 1, total: ids.length };
    results.push(progress);
    onProgress(progress);
  };

  try {
    const waiting = new Set<string>();
    const allEnded = new Promise<void>((resolve) => {
      uploader.onReportOutcome((id, outcome) => {
        if (!waiting.delete(id)) return;
        report(id, outcome);
        if (waiting.size === 0) resolve();
      });
    });

    for (const id of ids) waiting.add(id);
    const queued = new Set(await uploader.queuePending(ids));
    for (const id of ids) {
      if (queued.has(id)) continue;
      waiting.delete(id);
      report(id, outcomeOf(outbox.get(id)));
    }
    if (waiting.size > 0) await allEnded;
  } finally {
    await uploader.close();
  }
  return results;
}

/** Turns ids and log paths into report ids, adding an outbox entry for a log that has none. */
async function resolveTargets(logDir: string, targets: readonly string[], outbox: Outbox): Promise<string[]> {
  const ids: string[] = [];
  for (const target of targets) {
    const id = path.isAbsolute(target) ? reportIdFor(logDir, path.resolve(target)) : target;
    if (outbox.get(id) === undefined) {
      const submission = await submissionForLog(logDir, id);
      if (submission !== undefined) await outbox.add(id, submission, 'pending');
    }
    if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}

function outcomeOf(entry: OutboxEntry | undefined): UploadProgress['outcome'] {
  if (entry === undefined) return 'not-found';
  return entry.state;
}
