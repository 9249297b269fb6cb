import { promises as fs } from 'node:fs';
import path from 'node:path';

import { describeError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import type { Submission } from '../submission.js';
import { cleanStaleTempFiles, TEMP_SUFFIX, writeFileAtomic } from './atomic-write.js';
import { outboxDir } from './layout.js';
import { entryFileName, reportIdFromEntryFileName } from './report-id.js';
import { FINAL_STATES, type OutboxEntry, type OutboxReader, type ReportFacts, type ReportState } from './types.js';

export interface OutboxLimits {
  /** Most entries kept; past it the oldest are removed. */
  maxEntries: number;
  /** Age after which an entry is removed, in milliseconds since it was created. */
  maxAgeMs: number;
}

export const DEFAULT_OUTBOX_LIMITS: Readonly<OutboxLimits> = Object.freeze({
  maxEntries: 1000,
  maxAgeMs: 30 * 24 * 60 * 60 * 1000,
});

/** A temporary entry file older than this is removed at open even when its writer still runs. */
const STALE_TEMP_AGE_MS = 60 * 60 * 1000;

/** Fields of an entry that `update` may change. */
export type OutboxChange = Partial<Omit<OutboxEntry, 'id' | 'createdAtMs' | 'report' | 'logPath'>>;

/** Returns the facts of a submission that an entry keeps. */
export function reportFactsOf(submission: Submission): ReportFacts {
  return {
    instanceId: submission.instanceId,
    runnerId: submission.runnerId,
    exitCode: submission.exitCode,
    signal: submission.signal,
    diagnosticKinds: [...submission.diagnosticKinds],
    primaryCause: submission.primaryCause,
    endedAtMs: submission.endedAtMs,
  };
}

/** Returns the submission an entry was made from, for a retry after a restart. */
export function submissionOf(entry: OutboxEntry): Submission {
  return { kind: 'runner-stderr', logPath: entry.logPath, ...entry.report, diagnosticKinds: [...entry.report.diagnosticKinds] };
}

/**
 * Durable record of reports, one JSON file per report under
 * `<logDir>/telemetry/outbox/`. Each write is atomic (temporary file, fsync,
 * rename), so a kill at any moment leaves every entry whole.
 *
 * Only one process should write an outbox at a time: the uploader thread of a
 * running node, or `exo telemetry upload` while no node runs.
 */
export class Outbox implements OutboxReader {
  private readonly entries = new Map<string, OutboxEntry>();
  // Writes of one entry run one after another, so a slow write cannot land after a newer one.
  private readonly writeChains = new Map<string, Promise<void>>();
  // Creation times are kept strictly increasing so "oldest first" follows the order of `add` even within one millisecond.
  private lastCreatedAtMs = 0;

  private constructor(
    readonly dir: string,
    private readonly logger: Logger,
    private readonly limits: OutboxLimits,
    private readonly now: () => number,
  ) {}

  /** Opens (creating when needed) the outbox of a log dir, loads its entries and applies the limits. */
  static async open(logDir: string, logger: Logger, limits: Partial<OutboxLimits> = {}, now: () => number = Date.now): Promise<Outbox> {
    const outbox = new Outbox(outboxDir(logDir), logger, { ...DEFAULT_OUTBOX_LIMITS, ...limits }, now);
    await fs.mkdir(outbox.dir, { recursive: true, mode: 0o700 });
    await cleanStaleTempFiles(outbox.dir, TEMP_SUFFIX, STALE_TEMP_AGE_MS, now());
    await outbox.load();
    await outbox.enforceLimits();
    return outbox;
  }

  /** Returns the entry of a report id, or undefined. */
  get(id: string): OutboxEntry | undefined {
    const entry = this.entries.get(id);
    return entry === undefined ? undefined : structuredClone(entry);
  }

  /** Returns the entry as this outbox has it; an OutboxReader for retention. */
  async read(id: string): Promise<OutboxEntry | undefined> {
    return this.get(id);
  }

  /** Returns every entry, oldest first. */
  list(): OutboxEntry[] {
    return [...this.entries.values()].sort(byAge).map((entry) => structuredClone(entry));
  }

  /** Returns the pending entries, oldest first. */
  pending(): OutboxEntry[] {
    return this.list().filter((entry) => entry.state === 'pending');
  }

  /** Returns how many entries are pending, without copying them. */
  pendingCount(): number {
    let count = 0;
    for (const entry of this.entries.values()) if (entry.state === 'pending') count += 1;
    return count;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Records a report, durably, and returns its entry. Idempotent: when the id is
   * already there, the existing entry is returned unchanged with `created`
   * false, so a delivered or rejected report is never queued again.
   */
  async add(id: string, submission: Submission, state: ReportState = 'pending'): Promise<{ entry: OutboxEntry; created: boolean }> {
    const existing = this.entries.get(id);
    if (existing !== undefined) return { entry: structuredClone(existing), created: false };

    const nowMs = Math.max(this.now(), this.lastCreatedAtMs + 1);
    this.lastCreatedAtMs = nowMs;
    const entry: OutboxEntry = {
      id,
      state,
      logPath: submission.logPath,
      createdAtMs: nowMs,
      updatedAtMs: nowMs,
      attempts: 0,
      report: reportFactsOf(submission),
    };
    this.entries.set(id, entry);
    await this.persist(id);
    await this.enforceLimits();
    return { entry: structuredClone(entry), created: true };
  }

  /**
   * Changes an entry and writes it. Returns the new entry, or undefined when the
   * id is unknown (removed by the limits meanwhile). A delivered or rejected
   * entry keeps its state: nothing may turn it back into one that gets sent.
   */
  async update(id: string, change: OutboxChange): Promise<OutboxEntry | undefined> {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;

    const next: OutboxEntry = { ...entry, ...change, updatedAtMs: this.now() };
    if (FINAL_STATES.has(entry.state)) next.state = entry.state;
    this.entries.set(id, next);
    await this.persist(id);
    return structuredClone(next);
  }

  /**
   * Turns a dry-run, gone or skipped entry back into a pending one, for an
   * explicit `exo telemetry upload`. Returns the entry, or undefined when the id
   * is unknown. Delivered and rejected entries are returned unchanged.
   */
  async reopen(id: string): Promise<OutboxEntry | undefined> {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    if (entry.state === 'pending' || FINAL_STATES.has(entry.state)) return structuredClone(entry);
    return this.update(id, { state: 'pending', reason: undefined });
  }

  /** Waits until every write started so far has finished. */
  async flush(): Promise<void> {
    await Promise.all([...this.writeChains.values()]);
  }

  private async persist(id: string): Promise<void> {
    const previous = this.writeChains.get(id) ?? Promise.resolve();
    const write = previous.then(async () => {
      const entry = this.entries.get(id);
      if (entry === undefined) return;
      await writeFileAtomic(path.join(this.dir, entryFileName(id)), `${JSON.stringify(entry, null, 2)}\n`);
    });
    const settled = write.catch(() => undefined);
    this.writeChains.set(id, settled);
    void settled.then(() => {
      if (this.writeChains.get(id) === settled) this.writeChains.delete(id);
    });
    await write;
  }

  private async load(): Promise<void> {
    for (const name of await fs.readdir(this.dir)) {
      const id = reportIdFromEntryFileName(name);
      if (id === undefined) continue;
      try {
        const entry = JSON.parse(await fs.readFile(path.join(this.dir, name), 'utf8')) as OutboxEntry;
        if (entry.id !== id || typeof entry.state !== 'string' || typeof entry.createdAtMs !== 'number') {
          throw new Error('the fields do not match an outbox entry');
        }
        this.entries.set(id, entry);
        this.lastCreatedAtMs = Math.max(this.lastCreatedAtMs, entry.createdAtMs);
      } catch (error) {
        // The atomic write cannot leave a torn file, so this one was edited or damaged by hand.
        this.logger.warn('telemetry outbox entry unreadable, ignored', { file: path.join(this.dir, name), error: describeError(error) });
      }
    }
  }

  /**
   * Removes entries past the age limit, then the oldest past the count limit.
   * A pending entry removed is a report lost before delivery, so it is logged
   * as a warning with its id. Other removals are logged at debug.
   */
  private async enforceLimits(): Promise<void> {
    const nowMs = this.now();
    const byOldest = [...this.entries.values()].sort(byAge);
    const excess = Math.max(0, byOldest.length - this.limits.maxEntries);

    for (const [index, entry] of byOldest.entries()) {
      const expired = nowMs - entry.createdAtMs > this.limits.maxAgeMs;
      if (!expired && index >= excess) break;

      const reason = expired ? 'older than the outbox age limit' : 'past the outbox entry limit';
      this.entries.delete(entry.id);
      await this.writeChains.get(entry.id);
      await fs.rm(path.join(this.dir, entryFileName(entry.id)), { force: true });
      if (entry.state === 'pending') {
        this.logger.warn('telemetry outbox dropped a pending report', { reportId: entry.id, reason, maxEntries: this.limits.maxEntries });
      } else {
        this.logger.debug('telemetry outbox removed a report', { reportId: entry.id, state: entry.state, reason });
      }
    }
  }
}

/** Orders entries oldest first; the id breaks ties so the order is stable. */
function byAge(a: OutboxEntry, b: OutboxEntry): number {
  if (a.createdAtMs !== b.createdAtMs) return a.createdAtMs - b.createdAtMs;
  return a.id.localeCompare(b.id);
}

/**
 * Returns a reader that reads each entry from disk when asked, for a process
 * that does not own the outbox (the main thread, the CLI) and needs the state
 * the uploader thread wrote last.
 */
export function openOutboxReader(logDir: string): OutboxReader {
  const dir = outboxDir(logDir);
  return {
    async read(id: string): Promise<OutboxEntry | undefined> {
      try {
        return JSON.parse(await fs.readFile(path.join(dir, entryFileName(id)), 'utf8')) as OutboxEntry;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || error instanceof SyntaxError) return undefined;
        throw error;
      }
    },
  };
}
