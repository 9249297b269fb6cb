import type { SpanCollector } from './spans.js';

/** PEM, OpenSSH and PGP private key armour: `-----BEGIN [RSA |EC |OPENSSH |ENCRYPTED ]PRIVATE KEY-----` and so on. */
const BEGIN = /-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----/g;
const END = /-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----/g;
/** An END line at the very start of the text, for a stream that begins inside a block. */
export const END_AT_START = /-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----/y;
/** A line of a key body: base64 only, at least 16 characters. */
export const KEY_BODY_LINE = /^[A-Za-z0-9+/=]{16,}\r?$/;

/** Whether a private key block was opened and not yet closed, carried from segment to segment. */
export interface PrivateKeyState {
  open: boolean;
}

/**
 * Offers each private key block in the segment as one finding, from its BEGIN line
 * to its END line, across newlines. A block that is still open at the end of the
 * segment goes on in the next one, and one that is never closed is redacted to the
 * end of the stream.
 *
 * Runs before every other rule, so a block wins over any finding that overlaps it.
 * `atLineEnd` is false for a window cut in the middle of a long line. The redaction
 * of an open block then stops at the window's limit, so that an END marker that
 * straddles the cut is found in the next window.
 */
export function findPrivateKeys(text: string, collector: SpanCollector, state: PrivateKeyState, atLineEnd: boolean): void {
  let position = collector.from;
  const openEnd = atLineEnd ? text.length : collector.limit;

  if (state.open) {
    END.lastIndex = position;
    const end = END.exec(text);
    if (end === null) {
      collector.offer(position, openEnd, undefined);
      return;
    }
    collector.offer(position, end.index + end[0].length, undefined);
    state.open = false;
    position = end.index + end[0].length;
  }

  while (position < collector.limit) {
    BEGIN.lastIndex = position;
    const begin = BEGIN.exec(text);
    if (begin === null || begin.index >= collector.limit) return;

    const beginEnd = begin.index + begin[0].length;
    END.lastIndex = beginEnd;
    const end = END.exec(text);
    if (end === null) {
      collector.offer(begin.index, Math.max(openEnd, beginEnd), 'private_key');
      state.open = true;
      return;
    }
    collector.offer(begin.index, end.index + end[0].length, 'private_key');
    position = end.index + end[0].length;
  }
}
