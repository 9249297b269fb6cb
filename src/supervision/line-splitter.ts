/**
 * A line longer than this keeps only its first 64 KiB and its last 128 to 256 KiB,
 * so one runner cannot grow the node's memory with a line that never ends.
 */
export const MAX_LINE_BYTES = 256 * 1024;

/** Bytes kept from the start and from the end of a line that passes MAX_LINE_BYTES. */
const KEPT_HEAD_BYTES = 64 * 1024;
const KEPT_TAIL_BYTES = 128 * 1024;

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/**
 * Splits a byte stream into text lines for logging and classification.
 *
 * Lines end at `\n` and lose one trailing `\r`; empty lines are skipped. Bytes are
 * decoded as UTF-8 with replacement only once a line is whole, and `\n` never occurs
 * inside a multi-byte sequence, so a character split across two chunks decodes right.
 * The log file gets the raw bytes elsewhere: nothing here changes what is stored.
 */
export class LineSplitter {
  private partial: Buffer[] = [];
  private partialBytes = 0;
  /** Head of an over-long line, kept once the line passed MAX_LINE_BYTES. */
  private longLineHead: Buffer | undefined;

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer): void {
    let start = 0;
    let newline = chunk.indexOf(NEWLINE, start);
    while (newline !== -1) {
      if (this.partialBytes === 0 && this.longLineHead === undefined) {
        this.emit(chunk, start, newline);
      } else {
        this.append(chunk.subarray(start, newline));
        this.emitPartial();
      }
      start = newline + 1;
      newline = chunk.indexOf(NEWLINE, start);
    }
    if (start < chunk.length) {
      this.append(chunk.subarray(start));
    }
  }

  /** Emits a last line that had no newline at end of stream. */
  end(): void {
    if (this.partialBytes > 0 || this.longLineHead !== undefined) {
      this.emitPartial();
    }
  }

  private emit(buffer: Buffer, start: number, end: number): void {
    if (end > start && buffer[end - 1] === CARRIAGE_RETURN) end -= 1;
    if (end <= start) return;
    this.onLine(buffer.toString('utf8', start, end));
  }

  private append(bytes: Buffer): void {
    // Copy: the stream may reuse the chunk's memory after this call returns.
    this.partial.push(Buffer.from(bytes));
    this.partialBytes += bytes.length;
    if (this.partialBytes > MAX_LINE_BYTES) this.compact();
  }

  /** Keeps the head of an over-long line and a rolling tail, dropping the middle. */
  private compact(): void {
    const joined = Buffer.concat(this.partial, this.partialBytes);
    let tailStart = 0;
    if (this.longLineHead === undefined) {
      this.longLineHead = joined.subarray(0, KEPT_HEAD_BYTES);
      tailStart = KEPT_HEAD_BYTES;
    }
    const tail = joined.subarray(Math.max(tailStart, joined.length - KEPT_TAIL_BYTES));
    this.partial = [Buffer.from(tail)];
    this.partialBytes = tail.length;
  }

  private emitPartial(): void {
    const rest = Buffer.concat(this.partial, this.partialBytes);
    this.partial = [];
    this.partialBytes = 0;
    if (this.longLineHead === undefined) {
      this.emit(rest, 0, rest.length);
      return;
    }
    const head = this.longLineHead;
    this.longLineHead = undefined;
    // The marker shows a reader that bytes were left out here; the log file still has all of them.
    const joined = Buffer.concat([head, Buffer.from(' [...] '), rest]);
    this.emit(joined, 0, joined.length);
  }
}
