import { replacementFor, type RedactionCounts, type RedactionKind } from './kinds.js';

/** A range of a segment to replace, in UTF-16 code units of the latin1 text (so in bytes). */
export interface Span {
  start: number;
  end: number;
  replacement: string;
  /** Sticky pattern for characters that continue this finding past the end of the segment. */
  tail: RegExp | undefined;
}

/**
 * Collects the findings of all rules over one segment and keeps the first of any
 * overlapping pair. Rules offer their findings in priority order, so "first" means
 * "of the kind that comes first in REDACTION_KINDS".
 *
 * Only findings that start in [from, limit) are accepted: text before `from` was
 * already emitted, and a finding that starts at or after `limit` is found again in
 * the next window, with the text that follows it.
 */
export class SpanCollector {
  readonly spans: Span[] = [];
  /** End of the last-ending accepted span, or `from` when there is none. */
  maxEnd: number;
  /** One byte per character of the segment, set where an accepted span lies. Allocated at the first span. */
  private covered: Uint8Array | undefined;

  constructor(
    private readonly segmentLength: number,
    readonly from: number,
    readonly limit: number,
    private readonly counts: RedactionCounts,
  ) {
    this.maxEnd = from;
  }

  /**
   * Accepts a finding unless it falls outside [from, limit) or overlaps an accepted one.
   * `kind` undefined marks the rest of a finding that an earlier segment already counted.
   */
  offer(start: number, end: number, kind: RedactionKind | undefined, replacement?: string, tail?: RegExp): boolean {
    if (start < this.from || start >= this.limit || end <= start) return false;

    this.covered ??= new Uint8Array(this.segmentLength);
    const covered = this.covered;
    for (let index = start; index < end; index++) {
      if (covered[index] !== 0) return false;
    }
    covered.fill(1, start, end);

    const text = replacement ?? (kind === undefined ? '' : replacementFor(kind));
    this.spans.push({ start, end, replacement: text, tail });
    if (end > this.maxEnd) this.maxEnd = end;
    if (kind !== undefined) this.counts[kind] = (this.counts[kind] ?? 0) + 1;
    return true;
  }
}

/** Returns `text` from `from` to `end` with every span replaced. Spans must lie inside that range. */
export function applySpans(text: string, from: number, end: number, spans: Span[]): string {
  if (spans.length === 0) return text.slice(from, end);

  spans.sort((a, b) => a.start - b.start);
  const pieces: string[] = [];
  let position = from;
  for (const span of spans) {
    pieces.push(text.slice(position, span.start), span.replacement);
    position = span.end;
  }
  pieces.push(text.slice(position, end));
  return pieces.join('');
}
