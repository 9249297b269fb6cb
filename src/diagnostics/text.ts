/**
 * A line longer than twice this many characters is classified on its first and
 * last SCAN_EDGE_CHARS only, so one giant line costs bounded time. Crash text
 * sits at the start of a line or is glued to the end of a progress bar, so the
 * middle of such a line is where a diagnostic is least likely to be lost.
 */
export const SCAN_EDGE_CHARS = 32 * 1024;

/** Evidence lines and last lines are cut to this many characters. */
export const EVIDENCE_MAX_CHARS = 400;

/** How far before the match an evidence excerpt of a long line starts. */
const EXCERPT_LEAD_CHARS = 120;

/**
 * ANSI escape sequences (CSI such as `ESC[31m`, OSC titles, two-byte escapes) and SGR
 * or erase-line codes whose escape byte was lost on the way (`[31m`, `[0m`, `[2K`).
 * The lost-escape form needs a digit, so tags such as `[mlx]` stay intact. Each
 * branch starts at a fixed character and uses classes that do not overlap, so the
 * scan stays linear.
 */
const ANSI_PATTERN = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]{0,512}(?:\x07|\x1b\\)?|\x1b[()][0-9A-Za-z]|\x1b[@-_]?|\[\d{1,3}(?:;\d{1,3}){0,7}[mK]/g;

/** Returns the part of a line that is classified: all of it, or both ends of a giant line. */
export function scanWindow(line: string): string {
  if (line.length <= 2 * SCAN_EDGE_CHARS) return line;

  // The `\r` joint reads as a progress-bar redraw, so an evidence excerpt never joins the two ends.
  return `${line.slice(0, SCAN_EDGE_CHARS)}\r${line.slice(-SCAN_EDGE_CHARS)}`;
}

/** An escape byte, or a `[` followed by a digit as in a code that lost its escape byte. */
const ANSI_HINT = /\x1b|\[\d/;

/** Removes ANSI escape sequences, with or without their escape byte. */
export function stripAnsi(text: string): string {
  if (!ANSI_HINT.test(text)) return text;
  return text.replace(ANSI_PATTERN, '');
}

/**
 * Copies a short string so it does not keep the whole decoded chunk it was sliced
 * from alive: V8 represents a slice as a view into its parent string.
 */
export function detach(text: string): string {
  return Buffer.from(text, 'utf16le').toString('utf16le');
}

/** Cuts text to EVIDENCE_MAX_CHARS, marking the cut with `…`. */
export function capText(text: string): string {
  if (text.length <= EVIDENCE_MAX_CHARS) return detach(text);
  return `${detach(text.slice(0, EVIDENCE_MAX_CHARS - 1))}…`;
}

/**
 * Returns the evidence for a match at `index`: the progress-bar segment (between
 * `\r`s) that contains it, trimmed and cut to EVIDENCE_MAX_CHARS around the match.
 */
export function excerpt(text: string, index = 0): string {
  const segmentStart = index > 0 ? text.lastIndexOf('\r', index - 1) + 1 : 0;
  let segmentEnd = text.indexOf('\r', index);
  if (segmentEnd === -1) segmentEnd = text.length;
  const rawSegment = text.slice(segmentStart, segmentEnd);
  const segment = rawSegment.trim();
  if (segment.length <= EVIDENCE_MAX_CHARS) return detach(segment);

  const leadingBlanks = rawSegment.length - rawSegment.trimStart().length;
  const matchOffset = Math.max(0, index - segmentStart - leadingBlanks);
  const start = Math.max(0, Math.min(matchOffset - EXCERPT_LEAD_CHARS, segment.length - EVIDENCE_MAX_CHARS));
  const end = Math.min(segment.length, start + EVIDENCE_MAX_CHARS - 2);
  const head = start > 0 ? '…' : '';
  const tail = end < segment.length ? '…' : '';
  return `${head}${detach(segment.slice(start, end))}${tail}`;
}

/** Returns the last non-blank progress-bar segment of a line, for the report's last lines. */
export function lastSegment(text: string): string {
  let end = text.length;
  while (end > 0) {
    const start = text.lastIndexOf('\r', end - 1) + 1;
    const segment = text.slice(start, end).trim();
    if (segment.length > 0) return segment;
    end = start - 1;
  }
  return '';
}

/** Returns the file name at the end of a path, for short messages. */
export function baseName(path: string): string {
  const slash = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return slash === -1 ? path : path.slice(slash + 1);
}
