import type { RedactionKind } from './kinds.js';
import type { SpanCollector } from './spans.js';

/**
 * One kind of finding. A match attempt can only start at the beginning of a run of
 * the characters a pattern consumes, because of a negative lookbehind or a literal
 * first. Every repetition before the consumed part is bounded. So a scan is linear in
 * the segment length whatever the input.
 *
 * Most patterns start with a literal (`hf_`, `://`, `secret`), and a pass of such a
 * pattern over log text without a match ran at 2 to 8 GB/s (Node 20.20, AMD EPYC VM).
 * That is as fast as a separate prefilter would be, so there is none.
 */
export interface Rule {
  readonly kind: RedactionKind;
  /** Offers each finding in `text` to the collector. */
  find(text: string, collector: SpanCollector): void;
}

/** The part of a match to replace, relative to the segment. */
export interface Located {
  start: number;
  end: number;
  /** Sticky pattern for characters that may continue the finding past a cut. */
  tail?: RegExp;
}

export interface PatternRuleSpec {
  kind: RedactionKind;
  /** Global (`g`) pattern; add `d` when `locate` reads group indices. */
  pattern: RegExp;
  /** Picks the part of a match to replace, or undefined to keep it; default: the whole match. */
  locate?: (match: RegExpExecArray) => Located | undefined;
  /** Tail of a whole-match finding, when `locate` is omitted. */
  tail?: RegExp;
  replacement?: string;
}

/** Builds a rule that runs one global pattern over the segment. */
export function patternRule(spec: PatternRuleSpec): Rule {
  const { kind, pattern, locate, tail, replacement } = spec;
  if (!pattern.global) throw new TypeError(`pattern of rule ${kind} must have the g flag`);

  return {
    kind,
    find(text, collector) {
      pattern.lastIndex = 0;
      for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
        if (match.index >= collector.limit) break;
        if (match[0].length === 0) pattern.lastIndex++;

        const located = locate ? locate(match) : { start: match.index, end: match.index + match[0].length, tail };
        if (located === undefined) continue;
        collector.offer(located.start, located.end, kind, replacement, located.tail);
      }
    },
  };
}

/** Returns the start and end of capture group `group` of a match made with the `d` flag. */
export function groupRange(match: RegExpExecArray, group: number): [number, number] | undefined {
  const range = match.indices?.[group];
  return range === undefined ? undefined : [range[0], range[1]];
}

/** Escapes a literal for a RegExp source, writing control and non-ASCII characters as `\xHH`. */
export function escapeLiteral(text: string, asciiCaseInsensitive = false): string {
  let source = '';
  for (const char of text) {
    const code = char.charCodeAt(0);
    const lower = char.toLowerCase();
    const upper = char.toUpperCase();
    if (asciiCaseInsensitive && code < 0x80 && lower !== upper) {
      source += `[${upper}${lower}]`;
    } else if (code < 0x20 || code >= 0x7f) {
      source += `\\x${code.toString(16).padStart(2, '0')}`;
    } else if (/[\\^$.*+?()[\]{}|/-]/.test(char)) {
      source += `\\${char}`;
    } else {
      source += char;
    }
  }
  return source;
}

/** Returns the UTF-8 bytes of `text` as a latin1 string, the form the redactor matches on. */
export function latin1OfUtf8(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}
