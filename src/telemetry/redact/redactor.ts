import { ExoError } from '../../errors.js';
import { replacementFor, type RedactionCounts } from './kinds.js';
import type { RedactOptions } from './options.js';
import { END_AT_START, KEY_BODY_LINE, findPrivateKeys, type PrivateKeyState } from './private-key.js';
import type { Rule } from './rule.js';
import { createRules } from './rules.js';
import { SpanCollector, applySpans } from './spans.js';

/** Maximum length of a partial line held while waiting for its newline. A longer line is redacted in windows. */
export const LINE_CAP_BYTES = 64 * 1024;

/**
 * Bytes at the end of a window that are held for the next one. It must exceed the
 * maximum text a rule needs to recognise a finding, about 1.1 KiB for a JWT header and
 * the start of its payload. Then a finding cut by the window end is found whole in the
 * next window.
 */
export const WINDOW_OVERLAP_BYTES = 4 * 1024;

/** Already written bytes of the same line kept before a window, for look-behinds and the names before values. */
const CONTEXT_BYTES = 1024;

/** Maximum bytes a Redactor keeps between calls. */
export const MAX_BUFFERED_BYTES = LINE_CAP_BYTES + CONTEXT_BYTES;

/** Maximum bytes redacted in one pass, so that per-pass buffers stay bounded when a caller pushes a huge chunk. */
const MAX_SEGMENT_BYTES = 1024 * 1024;

/** Maximum bytes held while checking whether a stream that starts mid-file starts inside a key body. */
const MAX_ORPHAN_KEY_BYTES = 16 * 1024;

export interface RedactorStreamOptions {
  /**
   * The stream starts at an offset inside a log, not at its start. Base64 lines that
   * come before a key's END line are then redacted as a key body, since the BEGIN
   * line was before the offset.
   */
  startsMidStream?: boolean;
  /**
   * The stream starts inside a line. That partial first line is dropped, because a
   * secret cut at the offset cannot be recognised.
   */
  startsMidLine?: boolean;
}

/** Result of one pass over a segment. */
interface SegmentResult {
  output: string;
  /** Characters of the segment that are now written; the rest is redacted again with the next bytes. */
  consumed: number;
}

/**
 * Streaming redaction of a log: bytes in, redacted bytes out. Between calls it keeps
 * at most MAX_BUFFERED_BYTES, whatever the log size or line length.
 *
 * Bytes are decoded as latin1, one character per byte, so invalid UTF-8 goes through
 * unchanged and every rule matches ASCII or the latin1 view of UTF-8 bytes. Complete
 * lines are redacted together, and a partial line waits for its newline, so a
 * secret split across chunks is found. A line longer than LINE_CAP_BYTES is redacted
 * in windows that overlap by WINDOW_OVERLAP_BYTES.
 */
export class Redactor {
  private readonly rules: readonly Rule[];
  private readonly countsByKind: RedactionCounts = {};
  private readonly privateKey: PrivateKeyState = { open: false };
  /** Latin1 text not yet written, after `contextLength` characters of its line that were written already. */
  private pending = '';
  private contextLength = 0;
  /** Continuation of a finding that reached the end of a window; set by one window, consumed by the next. */
  private tail: RegExp | undefined;
  private skippingPartialLine: boolean;
  private checkingOrphanKey: boolean;
  private ended = false;

  constructor(options: RedactOptions, stream: RedactorStreamOptions = {}) {
    this.rules = createRules(options);
    this.skippingPartialLine = stream.startsMidLine === true;
    this.checkingOrphanKey = stream.startsMidStream === true || stream.startsMidLine === true;
  }

  /** Replacements so far, per kind. */
  get counts(): RedactionCounts {
    return { ...this.countsByKind };
  }

  /** Bytes held between calls, at most MAX_BUFFERED_BYTES. */
  get bufferedBytes(): number {
    return this.pending.length;
  }

  /** True after `end()` when a key block had no END line, so everything after its BEGIN line was redacted. */
  get unterminatedPrivateKey(): boolean {
    return this.ended && this.privateKey.open;
  }

  /** Redacts a chunk and returns the bytes that are final so far. */
  push(chunk: Buffer): Buffer {
    this.assertOpen('push');
    if (chunk.length === 0) return Buffer.alloc(0);
    return Buffer.from(this.redact(this.pending + chunk.toString('latin1'), false), 'latin1');
  }

  /** Redacts what is held, including a last line without newline, and returns it. */
  end(): Buffer {
    this.assertOpen('end');
    const output = this.redact(this.pending, true);
    this.ended = true;
    this.pending = '';
    this.contextLength = 0;
    return Buffer.from(output, 'latin1');
  }

  private assertOpen(method: string): void {
    if (this.ended) {
      throw new ExoError('ERR_REDACTOR_ENDED', `Redactor.${method}() was called after end(); create a new Redactor for each stream`);
    }
  }

  private redact(text: string, final: boolean): string {
    const pieces: string[] = [];
    let position = this.contextLength;
    let lineStart = this.contextLength > 0 ? 0 : position;

    if (this.skippingPartialLine || this.checkingOrphanKey) {
      const begin = this.beginMidStream(text, final, pieces);
      if (begin === undefined) return '';
      ({ position, lineStart } = begin);
    }

    while (position < text.length) {
      const contextStart = Math.max(lineStart, position - CONTEXT_BYTES);
      const searchEnd = Math.min(text.length, position + MAX_SEGMENT_BYTES);
      const newline = text.lastIndexOf('\n', searchEnd - 1);

      if (newline >= position) {
        const segment = text.slice(contextStart, newline + 1);
        pieces.push(this.redactSegment(segment, position - contextStart, segment.length, true).output);
        position = newline + 1;
        lineStart = position;
        continue;
      }

      if (!final && text.length - position < LINE_CAP_BYTES) break;

      // A line longer than the cap, or the last line of the stream, which has no newline.
      const segment = text.slice(contextStart, searchEnd);
      const atLineEnd = final && searchEnd === text.length;
      const limit = atLineEnd ? segment.length : segment.length - WINDOW_OVERLAP_BYTES;
      const result = this.redactSegment(segment, position - contextStart, limit, atLineEnd);
      pieces.push(result.output);
      position = contextStart + result.consumed;
    }

    const keepFrom = position === lineStart ? position : Math.max(lineStart, position - CONTEXT_BYTES);
    this.pending = text.slice(keepFrom);
    this.contextLength = position - keepFrom;
    return pieces.join('');
  }

  /**
   * Applies the rules for a stream that starts inside a log: drops the partial first
   * line, then replaces a key body that ends in the first lines. Returns where
   * redaction goes on, or undefined when the text is kept until more bytes arrive.
   */
  private beginMidStream(text: string, final: boolean, pieces: string[]): { position: number; lineStart: number } | undefined {
    let position = 0;

    if (this.skippingPartialLine) {
      const newline = text.indexOf('\n');
      if (newline !== -1) {
        position = newline + 1;
        this.skippingPartialLine = false;
      } else if (final || text.length >= LINE_CAP_BYTES) {
        // NOTE: no newline within the cap, so nothing is dropped and a secret cut at the offset may show in part.
        this.skippingPartialLine = false;
      } else {
        this.hold(text, 0);
        return undefined;
      }
    }

    const lineStart = position;
    if (this.checkingOrphanKey) {
      const keyEnd = findOrphanKeyEnd(text, position, final);
      if (keyEnd === 'incomplete') {
        this.hold(text, position);
        return undefined;
      }
      this.checkingOrphanKey = false;
      if (keyEnd !== 'none') {
        pieces.push(replacementFor('private_key'));
        this.countsByKind.private_key = (this.countsByKind.private_key ?? 0) + 1;
        position = keyEnd;
      }
    }

    return { position, lineStart };
  }

  /** Keeps `text` from `position`, a line start, for the next call and writes nothing yet. */
  private hold(text: string, position: number): void {
    this.pending = text.slice(position);
    this.contextLength = 0;
  }

  /**
   * Redacts `segment` from `from`. Findings that start at or after `limit` are left
   * for the next window. `atLineEnd` is true when the segment ends at a newline or at
   * the end of the stream, so no finding in it can go on in the next bytes.
   */
  private redactSegment(segment: string, from: number, limit: number, atLineEnd: boolean): SegmentResult {
    const collector = new SpanCollector(segment.length, from, limit, this.countsByKind);

    if (this.tail !== undefined) {
      const tail = this.tail;
      this.tail = undefined;
      tail.lastIndex = from;
      const continued = tail.exec(segment)?.[0].length ?? 0;
      if (continued > 0) collector.offer(from, from + continued, undefined, '', tail);
    }

    findPrivateKeys(segment, collector, this.privateKey, atLineEnd);

    for (const rule of this.rules) rule.find(segment, collector);

    const consumed = atLineEnd ? segment.length : Math.max(limit, collector.maxEnd);
    if (!atLineEnd) {
      for (const span of collector.spans) {
        if (span.end === segment.length && span.tail !== undefined) this.tail = span.tail;
      }
    }
    return { output: applySpans(segment, from, consumed, collector.spans), consumed };
  }
}

/**
 * Checks whether a stream that starts mid-file starts inside a private key body:
 * base64 lines and then an END line. Returns the end of that END line's marker,
 * 'none', or 'incomplete' while the lines seen so far could still be a body.
 */
function findOrphanKeyEnd(text: string, position: number, final: boolean): number | 'none' | 'incomplete' {
  let lineStart = position;
  while (lineStart - position <= MAX_ORPHAN_KEY_BYTES) {
    const newline = text.indexOf('\n', lineStart);
    if (newline === -1 && !final) return text.length - position > MAX_ORPHAN_KEY_BYTES ? 'none' : 'incomplete';

    END_AT_START.lastIndex = lineStart;
    const end = END_AT_START.exec(text);
    if (end !== null) return end.index + end[0].length;

    const lineEnd = newline === -1 ? text.length : newline;
    if (newline === -1 || !KEY_BODY_LINE.test(text.slice(lineStart, lineEnd))) return 'none';
    lineStart = newline + 1;
  }
  return 'none';
}

/** Redacts a whole text at once, for tests and for showing what would be uploaded. */
export function redactText(text: string | Buffer, options: RedactOptions): { output: Buffer; counts: RedactionCounts } {
  const redactor = new Redactor(options);
  const input = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const output = Buffer.concat([redactor.push(input), redactor.end()]);
  return { output, counts: redactor.counts };
}
