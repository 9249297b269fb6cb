import fs from 'node:fs/promises';
import path from 'node:path';

import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';

import { RUNNER_LOG_FOLDER, STDERR_LOG_SUFFIX } from '../../node/log-dir.js';
import { openOutboxReader } from '../../telemetry/outbox/outbox.js';
import type { OutboxEntry } from '../../telemetry/outbox/types.js';
import type { GlobalArgs } from '../global-options.js';
import { logDirFrom, withLogDirOption, type LogDirArgs } from '../log-dir-option.js';

interface ListArgs extends GlobalArgs, LogDirArgs {
  json: boolean;
}

/** One local runner log and what telemetry did with it. */
export interface LogListing {
  id: string;
  path: string;
  size: number;
  /** pending, delivered, rejected, gone, skipped, dry-run, or `not recorded` when telemetry never saw the log. */
  state: string;
  key?: string;
  reason?: string;
  primaryCause?: string;
}

/** Lists every stderr log under `<logDir>/runner_log`, oldest first within each runner. */
async function findLogs(logDir: string): Promise<Array<{ id: string; path: string; size: number }>> {
  const root = path.join(logDir, RUNNER_LOG_FOLDER);
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const logs: Array<{ id: string; path: string; size: number }> = [];
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.endsWith(STDERR_LOG_SUFFIX)) continue;
    const file = path.join(entry.parentPath, entry.name);
    const id = path.relative(root, file).split(path.sep).join('/');
    const size = (await fs.stat(file)).size;
    logs.push({ id, path: file, size });
  }
  return logs.sort((a, b) => a.id.localeCompare(b.id));
}

/** Joins the local logs with their outbox entries, and adds entries whose log is gone. */
export async function listReports(logDir: string): Promise<LogListing[]> {
  const reader = openOutboxReader(logDir);
  const listings: LogListing[] = [];
  for (const log of await findLogs(logDir)) {
    const entry = await reader.read(log.id);
    listings.push({ ...log, ...describeEntry(entry) });
  }
  return listings;
}

function describeEntry(entry: OutboxEntry | undefined): Pick<LogListing, 'state' | 'key' | 'reason' | 'primaryCause'> {
  if (entry === undefined) return { state: 'not recorded' };
  const facts: Pick<LogListing, 'state' | 'key' | 'reason' | 'primaryCause'> = { state: entry.state };
  if (entry.key !== undefined) facts.key = entry.key;
  const reason = entry.reason ?? entry.lastError?.message;
  if (reason !== undefined) facts.reason = reason;
  if (entry.report.primaryCause !== '') facts.primaryCause = entry.report.primaryCause;
  return facts;
}

function formatListing(listing: LogListing): string {
  const details = [listing.key === undefined ? '' : `key ${listing.key}`, listing.reason === undefined ? '' : listing.reason]
    .filter((part) => part !== '')
    .join('; ');
  return `${listing.state.padEnd(12)} ${String(listing.size).padStart(10)} B  ${listing.id}${details === '' ? '' : `  (${details})`}`;
}

async function handler(args: ArgumentsCamelCase<ListArgs>): Promise<void> {
  const logDir = logDirFrom(args);
  const listings = await listReports(logDir);
  if (args.json) {
    process.stdout.write(`${JSON.stringify(listings, null, 2)}\n`);
    return;
  }
  if (listings.length === 0) {
    process.stdout.write(`no runner logs under ${path.join(logDir, RUNNER_LOG_FOLDER)}\n`);
    return;
  }
  process.stdout.write(`${'state'.padEnd(12)} ${'size'.padStart(12)}  log (under ${path.join(logDir, RUNNER_LOG_FOLDER)})\n`);
  for (const listing of listings) process.stdout.write(`${formatListing(listing)}\n`);
}

export const listCommand: CommandModule<GlobalArgs, ListArgs> = {
  command: 'list',
  describe: 'List the local runner logs and the state of each report: pending, delivered (with its key), skipped, dry-run…',
  builder: (argv: Argv<GlobalArgs>) =>
    withLogDirOption(argv).option('json', { type: 'boolean', default: false, describe: 'Print JSON instead of a table' }) as unknown as Argv<ListArgs>,
  handler,
};
