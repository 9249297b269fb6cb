import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

import { ExoError, describeError, errorCode } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { STDERR_LOG_SUFFIX } from '../node/log-dir.js';
import { ReportIndex, type ListingCursor, type ReportPage, type StoredReport } from './report-index.js';

/** Store folder of runner logs, sharded by the first two hex digits of their SHA-256. */
export const REPORT_FOLDER = 'runner_log';
/** Store folder of uploads still streaming in. Same file system as the reports, so a rename is atomic. */
export const TEMP_FOLDER = 'tmp';

const METADATA_SUFFIX = '.json';
const SHA256_PATTERN = /^[0-9a-f]{64}$/;

/** Returns the store key of a log: it is derived only from the SHA-256, never from client text. */
export function reportKey(sha256: string): string {
  return `${REPORT_FOLDER}/${sha256.slice(0, 2)}/${sha256}${STDERR_LOG_SUFFIX}`;
}

/**
 * The collector's local store: `runner_log/ab/<sha256>.stderr.log` contains the bytes,
 * and `<sha256>.json` beside it the StoredReport. The object file is the commit point:
 * it appears by an atomic rename once its bytes were verified.
 *
 * NOTE: every report is indexed in memory by a full scan at start, which suits a
 * reference collector and not a store of millions of reports.
 */
export class ReportStore {
  private readonly index = new ReportIndex();
  /** Per SHA-256, the last commit in flight, so that commits of equal bytes run one at a time. */
  private readonly commitTails = new Map<string, Promise<void>>();

  private constructor(
    readonly storeDir: string,
    private readonly logger: Logger,
  ) {}

  /** Creates the store folders, removes partial uploads left by an earlier run, and loads the index. */
  static async open(storeDir: string, logger: Logger): Promise<ReportStore> {
    const store = new ReportStore(path.resolve(storeDir), logger);
    // The store contains crash logs, so only the collector's user may read it.
    await fs.mkdir(path.join(store.storeDir, REPORT_FOLDER), { recursive: true, mode: 0o700 });
    await fs.mkdir(store.tempDir, { recursive: true, mode: 0o700 });
    await store.removeTempFiles();
    await store.loadIndex();
    return store;
  }

  get tempDir(): string {
    return path.join(this.storeDir, TEMP_FOLDER);
  }

  get reportCount(): number {
    return this.index.size;
  }

  /** Returns a fresh path in the temp folder for an upload to stream into. */
  newTempPath(): string {
    return path.join(this.tempDir, `upload-${crypto.randomBytes(8).toString('hex')}.part`);
  }

  objectPath(sha256: string): string {
    return path.join(this.storeDir, ...reportKey(sha256).split('/'));
  }

  metadataPath(sha256: string): string {
    return path.join(path.dirname(this.objectPath(sha256)), `${sha256}${METADATA_SUFFIX}`);
  }

  get(sha256: string): StoredReport | undefined {
    return this.index.get(sha256);
  }

  list(limit: number, cursor: ListingCursor | undefined): ReportPage {
    return this.index.list(limit, cursor);
  }

  /**
   * Moves a verified upload into the store, or, when these bytes are stored already,
   * deletes it and counts a repeat while keeping the first report's metadata.
   */
  async commit(tempPath: string, upload: { sha256: string; size: number; metadata: Record<string, unknown> | null; receivedAtMs: number }): Promise<{ report: StoredReport; duplicate: boolean }> {
    return this.serialize(upload.sha256, async () => {
      const existing = this.index.get(upload.sha256);
      if (existing !== undefined) {
        await fs.rm(tempPath, { force: true });
        const report = { ...existing, repeatCount: existing.repeatCount + 1 };
        await this.writeMetadata(report);
        this.index.put(report);
        return { report, duplicate: true };
      }

      const report: StoredReport = {
        key: reportKey(upload.sha256),
        sha256: upload.sha256,
        size: upload.size,
        receivedAt: new Date(upload.receivedAtMs).toISOString(),
        metadata: upload.metadata,
        repeatCount: 0,
      };
      await fs.mkdir(path.dirname(this.objectPath(upload.sha256)), { recursive: true, mode: 0o700 });
      await fs.rename(tempPath, this.objectPath(upload.sha256));
      await this.writeMetadata(report);
      this.index.put(report);
      return { report, duplicate: false };
    });
  }

  /** Runs `task` after every earlier task of the same SHA-256 has settled. */
  private async serialize<T>(sha256: string, task: () => Promise<T>): Promise<T> {
    const previous = this.commitTails.get(sha256) ?? Promise.resolve();
    const result = previous.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.commitTails.set(sha256, tail);
    try {
      return await result;
    } finally {
      if (this.commitTails.get(sha256) === tail) this.commitTails.delete(sha256);
    }
  }

  /** Writes the metadata file through a temporary file, so a reader never sees half of it. */
  private async writeMetadata(report: StoredReport): Promise<void> {
    const tempPath = path.join(this.tempDir, `${report.sha256}-${crypto.randomBytes(4).toString('hex')}.json.part`);
    await fs.writeFile(tempPath, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o600 });
    await fs.rename(tempPath, this.metadataPath(report.sha256));
  }

  private async removeTempFiles(): Promise<void> {
    const names = await fs.readdir(this.tempDir);
    for (const name of names) {
      await fs.rm(path.join(this.tempDir, name), { force: true, recursive: true });
    }
    if (names.length > 0) {
      this.logger.warn('removed partial uploads left by an earlier run', { count: names.length, folder: this.tempDir });
    }
  }

  private async loadIndex(): Promise<void> {
    const reportRoot = path.join(this.storeDir, REPORT_FOLDER);
    for (const shard of await fs.readdir(reportRoot)) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      for (const name of await fs.readdir(path.join(reportRoot, shard))) {
        const sha256 = name.slice(0, -STDERR_LOG_SUFFIX.length);
        if (!name.endsWith(STDERR_LOG_SUFFIX) || !SHA256_PATTERN.test(sha256) || !sha256.startsWith(shard)) continue;
        this.index.put(await this.loadReport(sha256));
      }
    }
    this.logger.debug('report index loaded', { reports: this.index.size, store: this.storeDir });
  }

  /**
   * Reads the report of one stored log. A log without a readable metadata file (the
   * collector stopped between the two renames) is listed from its file facts.
   */
  private async loadReport(sha256: string): Promise<StoredReport> {
    const stats = await fs.stat(this.objectPath(sha256));
    try {
      const report = JSON.parse(await fs.readFile(this.metadataPath(sha256), 'utf8')) as StoredReport;
      if (report.sha256 === sha256 && report.size === stats.size && !Number.isNaN(Date.parse(report.receivedAt))) {
        return { ...report, key: reportKey(sha256), repeatCount: report.repeatCount ?? 0 };
      }
      this.logger.warn('stored report metadata does not match its log, listing it from the file', { sha256, path: this.metadataPath(sha256) });
    } catch (error) {
      if (errorCode(error) !== 'ENOENT' && !(error instanceof SyntaxError)) {
        throw new ExoError('ERR_STORE_READ', `cannot read ${this.metadataPath(sha256)}: ${describeError(error)}; check the store dir permissions`, { cause: error });
      }
      this.logger.warn('stored report has no readable metadata, listing it from the file', { sha256, error: describeError(error) });
    }
    return {
      key: reportKey(sha256),
      sha256,
      size: stats.size,
      receivedAt: stats.mtime.toISOString(),
      metadata: null,
      repeatCount: 0,
    };
  }
}
