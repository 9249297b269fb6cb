/** One stored report, as listed by `GET /telemetry/runner-log` and kept in its metadata file. */
export interface StoredReport {
  /** Store key of the log, derived only from its SHA-256: `runner_log/ab/<sha256>.stderr.log`. */
  key: string;
  sha256: string;
  /** Bytes of the log. */
  size: number;
  /** When the first upload of these bytes finished, as ISO 8601 UTC. */
  receivedAt: string;
  /** Metadata object of the presign request, or null when the client sent none. */
  metadata: Record<string, unknown> | null;
  /** Later uploads of the same bytes, which were not stored again. */
  repeatCount: number;
}

export interface ReportPage {
  reports: StoredReport[];
  /** Cursor of the next older page, or null on the last page. */
  nextCursor: string | null;
}

interface IndexEntry {
  receivedAtMs: number;
  report: StoredReport;
}

/**
 * Reports in memory, sorted oldest first by (receivedAt, sha256) so that a page is
 * a walk backwards from a position. A cursor is that position, so reports that
 * arrive between two page requests sort after it and never shift a later page.
 */
export class ReportIndex {
  private readonly entries: IndexEntry[] = [];
  private readonly bySha256 = new Map<string, IndexEntry>();

  get size(): number {
    return this.entries.length;
  }

  get(sha256: string): StoredReport | undefined {
    return this.bySha256.get(sha256)?.report;
  }

  /** Adds a report, or replaces the one with the same SHA-256. */
  put(report: StoredReport): void {
    const existing = this.bySha256.get(report.sha256);
    if (existing !== undefined) {
      this.entries.splice(this.positionAfter(existing.receivedAtMs, report.sha256) - 1, 1);
    }

    const entry = { receivedAtMs: Date.parse(report.receivedAt), report };
    this.entries.splice(this.positionAfter(entry.receivedAtMs, report.sha256), 0, entry);
    this.bySha256.set(report.sha256, entry);
  }

  /** Returns up to `limit` reports older than `cursor` (or the newest), newest first. */
  list(limit: number, cursor: ListingCursor | undefined): ReportPage {
    // Everything strictly before `end` is older than the cursor.
    const end = cursor === undefined ? this.entries.length : this.positionBefore(cursor.receivedAtMs, cursor.sha256);
    const start = Math.max(0, end - limit);
    const reports = this.entries
      .slice(start, end)
      .reverse()
      .map((entry) => entry.report);

    const oldest = this.entries[start];
    const nextCursor = start > 0 && oldest !== undefined ? encodeCursor({ receivedAtMs: oldest.receivedAtMs, sha256: oldest.report.sha256 }) : null;
    return { reports, nextCursor };
  }

  /** Returns the index of the first entry sorting at or after (receivedAtMs, sha256). */
  private positionBefore(receivedAtMs: number, sha256: string): number {
    return this.search((entry) => compare(entry, receivedAtMs, sha256) < 0);
  }

  /** Returns the index of the first entry sorting strictly after (receivedAtMs, sha256). */
  private positionAfter(receivedAtMs: number, sha256: string): number {
    return this.search((entry) => compare(entry, receivedAtMs, sha256) <= 0);
  }

  /** Binary search for the first entry for which `isBefore` is false. */
  private search(isBefore: (entry: IndexEntry) => boolean): number {
    let low = 0;
    let high = this.entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (isBefore(this.entries[middle])) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

function compare(entry: IndexEntry, receivedAtMs: number, sha256: string): number {
  if (entry.receivedAtMs !== receivedAtMs) return entry.receivedAtMs - receivedAtMs;
  if (entry.report.sha256 === sha256) return 0;
  return entry.report.sha256 < sha256 ? -1 : 1;
}

/** A position in the listing: the oldest report of the page before. Opaque to clients. */
export interface ListingCursor {
  receivedAtMs: number;
  sha256: string;
}

export function encodeCursor(cursor: ListingCursor): string {
  return Buffer.from(`${cursor.receivedAtMs}:${cursor.sha256}`).toString('base64url');
}

/** Returns the position in `text`, or undefined when it is not a cursor this collector made. */
export function decodeCursor(text: string): ListingCursor | undefined {
  const match = /^(\d{1,15}):([0-9a-f]{64})$/.exec(Buffer.from(text, 'base64url').toString('latin1'));
  if (match === null) return undefined;
  return { receivedAtMs: Number(match[1]), sha256: match[2] };
}
