import { type Finding, setDefined } from './rules/finding.js';
import { baseName, excerpt } from './text.js';

const TRACEBACK_HEADER = /Traceback \(most recent call last\):?/;
/** `  File "x.py", line 3, in main`; loguru marks the failing frame with `>`. */
const TRACEBACK_FRAME = /^[\s>]*File "([^"]{1,1000})", line (\d{1,9})(?:, in (.{1,300}))?/;
const EXCEPTION_LINE = /^([A-Za-z_][\w.]{0,200})(?::\s?(.*))?$/;
/**
 * The line after the frames names the exception class. Python prints builtins bare
 * and other classes with their module (`torch.OutOfMemoryError`), so a name counts
 * when it ends like an exception class or has a module and a capitalized class.
 * That keeps interleaved lines such as "INFO: ..." or "Killed" out.
 */
const EXCEPTION_CLASS_NAME = /(?:Error|Exception|Interrupt|Exit|Warning|Iteration|Cancelled|Failure|Fault|Timeout)$|\.[A-Z]\w*$/;

/** Lines of another writer that may interleave with a traceback before it is given up. */
const MAX_FOREIGN_LINES = 8;
/** Frame lines kept as evidence: the innermost ones, nearest the exception. */
const MAX_EVIDENCE_FRAMES = 2;

export type TracebackStep = 'consumed' | 'exception' | 'foreign' | 'ended';

/**
 * Follows a Python traceback from its header to the exception line and builds one
 * `python.exception` finding with the innermost frame. Memory stays bounded: only
 * the header, the last frames and the exception line are kept, however long the
 * traceback. Frames without source lines (frozen apps), blank lines and annotation
 * lines (`^^^^`, `~~~^~~`) are all accepted.
 *
 * A traceback logged behind a prefix, such as `(EngineCore pid=229) ERROR 04-19
 * 12:21:04 [core.py:1134] `, keeps that prefix on every line. The prefix is learned
 * from the header line and compared by shape (digits may change), which separates
 * the traceback from lines of other writers in between.
 *
 * TODO: exception groups (Python 3.11), whose lines sit behind `  | `, are not
 * recognized yet.
 */
export class TracebackParser {
  active = false;
  private prefix = '';
  private prefixShape = '';
  private header = '';
  private frames: string[] = [];
  private innermost: { file: string; line: number; function?: string } | undefined;
  private foreignLines = 0;
  private finding: Finding | undefined;
  private evidence: string[] = [];

  /** Starts a traceback when the line contains a header, and returns whether it did. */
  maybeStart(text: string): boolean {
    const header = TRACEBACK_HEADER.exec(text);
    if (header === null) return false;

    this.active = true;
    this.prefix = text.slice(0, header.index);
    this.prefixShape = shapeOf(this.prefix);
    this.header = excerpt(text, header.index);
    this.frames = [];
    this.innermost = undefined;
    this.foreignLines = 0;
    return true;
  }

  /** Feeds the next line of an active traceback. After 'exception', call takeFinding(). */
  feed(text: string): TracebackStep {
    const body = this.stripPrefix(text);
    if (body === undefined) return this.countForeign();

    if (body.trim() === '') return 'consumed';
    const frame = TRACEBACK_FRAME.exec(body);
    if (frame !== null) {
      this.innermost = { file: frame[1]!, line: Number.parseInt(frame[2]!, 10), function: frame[3]?.trim() };
      this.frames.push(excerpt(body, frame.index));
      if (this.frames.length > MAX_EVIDENCE_FRAMES) this.frames.shift();
      this.foreignLines = 0;
      return 'consumed';
    }
    // Source lines and annotations are indented under their frame.
    if (/^\s/.test(body)) return 'consumed';

    const exception = EXCEPTION_LINE.exec(body.trimEnd());
    if (exception !== null && EXCEPTION_CLASS_NAME.test(exception[1]!)) {
      this.finding = this.exceptionFinding(exception[1]!, exception[2]?.trim(), text.length - body.length);
      this.evidence = [this.header, ...this.frames, excerpt(text, text.length - body.length)];
      this.active = false;
      return 'exception';
    }
    return this.countForeign();
  }

  /** Returns the finding and evidence of the exception line just fed. */
  takeFinding(): { finding: Finding; evidence: string[] } | undefined {
    const finding = this.finding;
    this.finding = undefined;
    return finding === undefined ? undefined : { finding, evidence: this.evidence };
  }

  /**
   * Ends a traceback that the stream cut off before its exception line, which
   * happens when the process is killed while Python prints it.
   */
  finishCutOff(): { finding: Finding; evidence: string[] } | undefined {
    if (!this.active) return undefined;
    this.active = false;
    if (this.innermost === undefined) return undefined;
    const finding = this.exceptionFinding(undefined, undefined, 0);
    return { finding, evidence: [this.header, ...this.frames] };
  }

  private exceptionFinding(type: string | undefined, message: string | undefined, index: number): Finding {
    const frame = this.innermost;
    const fields = setDefined({}, { type, message, file: frame?.file, line: frame?.line, function: frame?.function });
    let text: string;
    if (type === undefined) {
      text = `Python traceback cut off before its exception${frame === undefined ? '' : ` (in ${frameLabel(frame)})`}`;
    } else {
      text = message === undefined || message === '' ? `Python ${type}` : `Python ${type}: ${message}`;
    }
    return { kind: 'python.exception', message: text, fields, index };
  }

  private stripPrefix(text: string): string | undefined {
    if (this.prefix === '') return text;
    if (text.startsWith(this.prefix)) return text.slice(this.prefix.length);
    if (shapeOf(text.slice(0, this.prefix.length)) === this.prefixShape) return text.slice(this.prefix.length);
    return undefined;
  }

  private countForeign(): TracebackStep {
    this.foreignLines += 1;
    if (this.foreignLines > MAX_FOREIGN_LINES) {
      this.active = false;
      return 'ended';
    }
    return 'foreign';
  }
}

/** Replaces digits by 0, so "12:21:04 pid=229" and "12:21:05 pid=229" have the same shape. */
function shapeOf(text: string): string {
  return text.replace(/\d/g, '0');
}

function frameLabel(frame: { file: string; line: number; function?: string }): string {
  const where = `${baseName(frame.file)}:${frame.line}`;
  return frame.function === undefined ? where : `${frame.function} at ${where}`;
}

const FATAL_ERROR_HEADER = /Fatal Python error: ?([^\r]{0,300})/;
/** faulthandler frames have no comma before "in": `  File "x.py", line 514 in begin_forward`. */
const FAULTHANDLER_FRAME = /^\s*File "([^"]{1,1000})", line (\d{1,9}) in (.{1,300})$/;
/** A thread's heading; group 1 is set for the thread that crashed. */
const THREAD_HEADER = /^(?:(Current thread)|Thread) 0x[0-9a-f]{1,16} \(most recent call first\):|^Stack \(most recent call first\):/i;
/** Lines faulthandler writes between the header and the frames, or after them. */
const FAULTHANDLER_NOTE = /^\s*(?:<no Python frame>|Garbage-collecting|Python runtime state:|<truncated rest of calls>)/;
const SIGNAL_BY_FATAL_ERROR: Readonly<Record<string, string>> = {
  'Segmentation fault': 'SIGSEGV',
  Aborted: 'SIGABRT',
  'Bus error': 'SIGBUS',
  'Floating point exception': 'SIGFPE',
  'Illegal instruction': 'SIGILL',
};
/** Frames kept from the crashed thread, innermost first. */
const MAX_FATAL_FRAMES = 8;
const MAX_FATAL_EVIDENCE_LINES = 5;

interface FatalFrame {
  file: string;
  line: number;
  function: string;
}

/**
 * Follows a faulthandler report ("Fatal Python error: Segmentation fault", then
 * the Python frames of each thread) and builds one `python.fatal_error` finding
 * with the frames of the thread that crashed. faulthandler marks that thread
 * "Current thread" wherever it falls in the list; a report without that mark
 * ("Stack (most recent call first):", or a lone thread) gives its first frames.
 */
export class FatalErrorParser {
  active = false;
  private error = '';
  private frames: FatalFrame[] = [];
  /** Frames of the first thread listed, used when no thread is marked current. */
  private firstThreadFrames: FatalFrame[] = [];
  private firstThreadEvidence: string[] = [];
  private thread: 'current' | 'first' | 'other' = 'first';
  private threadsSeen = 0;
  private evidence: string[] = [];
  private index = 0;

  /** Starts a report when the line contains a "Fatal Python error" header, and returns whether it did. */
  maybeStart(text: string): boolean {
    const header = FATAL_ERROR_HEADER.exec(text);
    if (header === null) return false;

    this.active = true;
    this.error = header[1]!.trim();
    this.frames = [];
    this.firstThreadFrames = [];
    this.firstThreadEvidence = [];
    this.thread = 'first';
    this.threadsSeen = 0;
    this.evidence = [excerpt(text, header.index)];
    this.index = header.index;
    return true;
  }

  /** Feeds the next line; returns false once the line is not part of the report (the report then ends). */
  feed(text: string): boolean {
    const thread = THREAD_HEADER.exec(text);
    if (thread !== null) {
      this.threadsSeen += 1;
      if (thread[1] !== undefined) {
        this.thread = 'current';
        this.addEvidence(text);
      } else {
        this.thread = this.threadsSeen === 1 ? 'first' : 'other';
      }
      return true;
    }
    const frame = FAULTHANDLER_FRAME.exec(text);
    if (frame !== null) {
      const parsed = { file: frame[1]!, line: Number.parseInt(frame[2]!, 10), function: frame[3]!.trim() };
      if (this.thread === 'current' && this.frames.length < MAX_FATAL_FRAMES) {
        this.frames.push(parsed);
        this.addEvidence(text);
      } else if (this.thread === 'first' && this.firstThreadFrames.length < MAX_FATAL_FRAMES) {
        this.firstThreadFrames.push(parsed);
        this.firstThreadEvidence.push(excerpt(text));
      }
      return true;
    }
    if (FAULTHANDLER_NOTE.test(text) || text.trim() === '') return true;
    return false;
  }

  /** Ends the report and returns its finding. */
  finish(): { finding: Finding; evidence: string[] } | undefined {
    if (!this.active) return undefined;
    this.active = false;

    const crashed = this.frames.length > 0 ? this.frames : this.firstThreadFrames;
    const evidence = this.frames.length > 0 ? this.evidence : [...this.evidence, ...this.firstThreadEvidence].slice(0, MAX_FATAL_EVIDENCE_LINES);
    const innermost = crashed[0];
    const signal = SIGNAL_BY_FATAL_ERROR[this.error];
    const frames = crashed.map((frame) => `${frame.file}:${frame.line} in ${frame.function}`).join('\n');
    const fields = setDefined(
      {},
      { error: this.error, signal, frames, file: innermost?.file, line: innermost?.line, function: innermost?.function },
    );
    const where = innermost === undefined ? '' : ` in ${frameLabel(innermost)}`;
    const message = `Python fatal error: ${this.error || 'unknown'}${where}`;
    return { finding: { kind: 'python.fatal_error', message, fields, index: this.index }, evidence };
  }

  private addEvidence(text: string): void {
    if (this.evidence.length < MAX_FATAL_EVIDENCE_LINES) this.evidence.push(excerpt(text));
  }
}
