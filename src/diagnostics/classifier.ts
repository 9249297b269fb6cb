/**
 * Classifies a runner's stderr, line by line, into diagnostics: how the runner
 * died, in words a person can act on. The kind codes and their fields are listed
 * in kinds.ts, the single-line rules live in rules/, and the multi-line Python
 * reports in python.ts.
 *
 * The supervisor calls push() on the main thread for every stderr line, so an
 * ordinary line costs one test of STREAM_PREFILTER ("error", "errno", "Traceback")
 * and a slot in a ring. Those words open everything that can matter in the middle
 * of a stream: ring and jaccl errors, Metal and CUDA failures, Python tracebacks
 * and fatal errors. The other rules describe how a process ends: shell notices
 * such as "Killed", aborts, assertions, uncaught C++ exceptions without "error"
 * in their type, and watchdog or hang reports. So finish() runs them once over the
 * last TAIL_LINES lines, instead of testing every line for their words.
 *
 * Memory is bounded whatever the stream length: a fixed number of diagnostics,
 * evidence lines and tail lines, each cut to a fixed length, and a traceback keeps
 * only its last frames.
 */
import { FatalErrorParser, TracebackParser } from './python.js';
import type { Finding } from './rules/finding.js';
import { matchLine, STREAM_PREFILTER } from './rules/index.js';
import { cppExceptionFinding, matchTerminateAfterThrow, matchWhatLine, type PendingCppException } from './rules/native.js';
import { capText, excerpt, lastSegment, SCAN_EDGE_CHARS, scanWindow, stripAnsi } from './text.js';
import type { Diagnostic, StderrReport } from './types.js';

/** Lines kept as the report's last lines. */
export const LAST_LINES = 4;
/**
 * Lines at the end of the stream that finish() checks with every rule. A dying
 * process prints its notice last, followed at most by a native backtrace or a few
 * warnings from interpreter shutdown, which fit well within this many lines.
 * NOTE: a notice without "error" earlier in the stream, such as "Killed" from a
 * child process that the runner outlived, is not reported.
 */
export const TAIL_LINES = 256;
/** A tail line longer than this is kept as its first and last half, to bound the ring's memory. */
const TAIL_LINE_MAX_CHARS = 4096;
/** Diagnostics kept from the start of the stream: the root cause is usually among the first. */
const MAX_FIRST_DIAGNOSTICS = 16;
/** Diagnostics kept from the end of the stream: what ended the runner is among the last. */
const MAX_LATEST_DIAGNOSTICS = 48;

/** A "terminate called after throwing" line waiting for its `what()` line. */
type PendingTerminate = PendingCppException & { index: number; lineNumber: number };

/** A diagnostic with the number of the line that showed it first, for ordering. */
interface NumberedDiagnostic {
  lineNumber: number;
  diagnostic: Diagnostic;
}

/** Collects the lines of one runner start and reports what they show. */
export class StderrClassifier {
  private readonly diagnostics = new DiagnosticList();
  private readonly traceback = new TracebackParser();
  private readonly fatalError = new FatalErrorParser();
  /** Set by a "terminate called after throwing" line, cleared by the next line. */
  private pendingCppException: PendingTerminate | undefined;
  /** Line number of the "Fatal Python error" header being followed, for ordering. */
  private fatalErrorLineNumber = 0;
  /** Ring of the last TAIL_LINES lines; `tailChecked` marks those the stream rules already handled. */
  private readonly tail: string[] = [];
  private readonly tailChecked = new Uint8Array(TAIL_LINES);
  private tailNext = 0;
  private lineNumber = 0;
  private finished = false;

  /** Classifies one stderr line, without its `\n`. Lines after finish() are ignored. */
  push(line: string): void {
    if (this.finished) return;
    this.lineNumber += 1;
    const slot = this.rememberLine(line);

    const window = line.length > 2 * SCAN_EDGE_CHARS ? scanWindow(line) : line;
    let checked: boolean;
    if (this.traceback.active || this.fatalError.active || this.pendingCppException !== undefined) {
      checked = this.classify(stripAnsi(window), false);
    } else if (STREAM_PREFILTER.test(window)) {
      checked = this.classify(stripAnsi(window), true);
    } else {
      checked = false;
    }
    this.tailChecked[slot] = checked ? 1 : 0;
  }

  /** Ends the stream, including a report that the last line cut off, and returns what was found. */
  finish(): StderrReport {
    if (!this.finished) {
      this.finished = true;
      this.endPendingCppException(undefined);
      this.addParsed(this.fatalError.finish(), this.fatalErrorLineNumber);
      this.addParsed(this.traceback.finishCutOff(), this.lineNumber);
      this.checkTail();
    }

    const tailLines = this.tailInOrder().map((entry) => entry.line);
    const report: StderrReport = {
      diagnostics: this.diagnostics.toArray(),
      lastLines: tailLines.slice(-LAST_LINES).map((line) => capText(lastSegment(stripAnsi(line)))),
    };
    if (this.diagnostics.omitted > 0) report.omittedDiagnostics = this.diagnostics.omitted;
    return report;
  }

  /**
   * Classifies a line with the stream rules. `prefiltered` is true when the line
   * already passed STREAM_PREFILTER. Returns whether the line was handled, so that
   * the tail check skips it.
   */
  private classify(text: string, prefiltered: boolean): boolean {
    if (this.pendingCppException !== undefined) {
      const what = matchWhatLine(text);
      this.endPendingCppException(what === undefined ? undefined : { what, evidence: excerpt(text) });
      if (what !== undefined) {
        // The what() message may itself be a Metal, ring or jaccl error.
        this.matchRules(text, this.lineNumber);
        return true;
      }
    }

    if (this.fatalError.active) {
      if (this.fatalError.feed(text)) return true;
      this.addParsed(this.fatalError.finish(), this.fatalErrorLineNumber);
    }

    if (this.traceback.active) {
      const step = this.traceback.feed(text);
      if (step === 'consumed') return true;
      if (step === 'exception') {
        this.addParsed(this.traceback.takeFinding(), this.lineNumber);
        // "RuntimeError: [jaccl] Recv failed with errno=2" is both an exception and a jaccl error.
        this.matchRules(text, this.lineNumber);
        return true;
      }
      // A line of another writer, or the end of a traceback that never named its exception.
    }

    if (!prefiltered && !STREAM_PREFILTER.test(text)) return false;
    if (this.fatalError.maybeStart(text)) {
      this.fatalErrorLineNumber = this.lineNumber;
      return true;
    }
    if (this.traceback.maybeStart(text)) return true;

    const terminate = matchTerminateAfterThrow(text);
    if (terminate !== undefined) {
      this.pendingCppException = {
        type: terminate.type,
        evidence: excerpt(text, terminate.index),
        index: terminate.index,
        lineNumber: this.lineNumber,
      };
      return true;
    }
    this.matchRules(text, this.lineNumber);
    return true;
  }

  /**
   * Runs every rule on the tail lines that no stream rule handled: shell notices,
   * aborts, assertions, C++ terminations and hang reports near the end.
   */
  private checkTail(): void {
    const found: NumberedDiagnostic[] = [];
    let pendingTerminate: PendingTerminate | undefined;

    for (const entry of this.tailInOrder()) {
      const text = stripAnsi(entry.line);
      if (pendingTerminate !== undefined) {
        const what = matchWhatLine(text);
        const evidence = what === undefined ? [pendingTerminate.evidence] : [pendingTerminate.evidence, excerpt(text)];
        found.push(numbered(cppExceptionFinding(pendingTerminate.type, what, pendingTerminate.index), evidence, pendingTerminate.lineNumber));
        pendingTerminate = undefined;
        if (what !== undefined) continue;
      }
      if (entry.checked) continue;

      const terminate = matchTerminateAfterThrow(text);
      if (terminate !== undefined) {
        pendingTerminate = { type: terminate.type, evidence: excerpt(text, terminate.index), index: terminate.index, lineNumber: entry.lineNumber };
        continue;
      }
      const findings: Finding[] = [];
      matchLine(text, findings);
      for (const finding of findings) found.push(numbered(finding, [excerpt(text, finding.index)], entry.lineNumber));
    }
    if (pendingTerminate !== undefined) {
      found.push(numbered(cppExceptionFinding(pendingTerminate.type, undefined, pendingTerminate.index), [pendingTerminate.evidence], pendingTerminate.lineNumber));
    }

    this.diagnostics.merge(found);
  }

  private matchRules(text: string, lineNumber: number): void {
    const findings: Finding[] = [];
    matchLine(text, findings);
    for (const finding of findings) this.diagnostics.add(numbered(finding, [excerpt(text, finding.index)], lineNumber));
  }

  private endPendingCppException(what: { what: string; evidence: string } | undefined): void {
    const pending = this.pendingCppException;
    if (pending === undefined) return;
    this.pendingCppException = undefined;

    const evidence = what === undefined ? [pending.evidence] : [pending.evidence, what.evidence];
    this.diagnostics.add(numbered(cppExceptionFinding(pending.type, what?.what, pending.index), evidence, pending.lineNumber));
  }

  private addParsed(parsed: { finding: Finding; evidence: string[] } | undefined, lineNumber: number): void {
    if (parsed !== undefined) this.diagnostics.add(numbered(parsed.finding, parsed.evidence, lineNumber));
  }

  /** Stores a line in the tail ring and returns its slot. */
  private rememberLine(line: string): number {
    const half = TAIL_LINE_MAX_CHARS / 2;
    const stored = line.length > TAIL_LINE_MAX_CHARS ? `${line.slice(0, half)}\r${line.slice(-half)}` : line;
    const slot = this.tailNext;
    this.tail[slot] = stored;
    this.tailNext = slot + 1 === TAIL_LINES ? 0 : slot + 1;
    return slot;
  }

  private tailInOrder(): { line: string; checked: boolean; lineNumber: number }[] {
    const count = this.tail.length;
    const firstSlot = count < TAIL_LINES ? 0 : this.tailNext;
    const entries: { line: string; checked: boolean; lineNumber: number }[] = [];
    for (let i = 0; i < count; i++) {
      const slot = (firstSlot + i) % TAIL_LINES;
      entries.push({ line: this.tail[slot]!, checked: this.tailChecked[slot] === 1, lineNumber: this.lineNumber - count + 1 + i });
    }
    return entries;
  }
}

function numbered(finding: Finding, evidence: string[], lineNumber: number): NumberedDiagnostic {
  const fields: Diagnostic['fields'] = {};
  for (const [key, value] of Object.entries(finding.fields)) fields[key] = typeof value === 'string' ? capText(value) : value;
  return {
    lineNumber,
    diagnostic: { kind: finding.kind, message: capText(finding.message), evidence, fields, count: 1 },
  };
}

/**
 * The diagnostics of one stream: the first MAX_FIRST_DIAGNOSTICS and the latest
 * MAX_LATEST_DIAGNOSTICS, counting the ones dropped in between. A diagnostic equal
 * to the one before it (same kind and message) is folded into it: the count grows
 * and the evidence becomes the latest line, so a repeated error costs one entry.
 */
class DiagnosticList {
  omitted = 0;
  private first: NumberedDiagnostic[] = [];
  private latest: NumberedDiagnostic[] = [];
  /** Index of the oldest entry of `latest` once it is full and used as a ring. */
  private latestStart = 0;
  private previous: Diagnostic | undefined;

  add(entry: NumberedDiagnostic): void {
    const previous = this.previous;
    const diagnostic = entry.diagnostic;
    if (previous !== undefined && previous.kind === diagnostic.kind && previous.message === diagnostic.message) {
      previous.count += diagnostic.count;
      previous.evidence = diagnostic.evidence;
      previous.fields = diagnostic.fields;
      return;
    }

    this.previous = diagnostic;
    if (this.first.length < MAX_FIRST_DIAGNOSTICS) {
      this.first.push(entry);
    } else if (this.latest.length < MAX_LATEST_DIAGNOSTICS) {
      this.latest.push(entry);
    } else {
      this.latest[this.latestStart] = entry;
      this.latestStart = (this.latestStart + 1) % MAX_LATEST_DIAGNOSTICS;
      this.omitted += 1;
    }
  }

  /** Adds diagnostics found out of stream order (the tail check), keeping line order and folding. */
  merge(entries: NumberedDiagnostic[]): void {
    if (entries.length === 0) return;
    const all = [...this.entries(), ...entries].sort((a, b) => a.lineNumber - b.lineNumber);
    const omitted = this.omitted;
    this.first = [];
    this.latest = [];
    this.latestStart = 0;
    this.previous = undefined;
    this.omitted = omitted;
    for (const entry of all) this.add(entry);
  }

  toArray(): Diagnostic[] {
    return this.entries().map((entry) => entry.diagnostic);
  }

  private entries(): NumberedDiagnostic[] {
    return [...this.first, ...this.latest.slice(this.latestStart), ...this.latest.slice(0, this.latestStart)];
  }
}

/**
 * Splits a whole log the way the supervisor splits a stream (on `\n`, one trailing
 * `\r` removed, empty lines skipped, UTF-8 decoded with replacement) and classifies it.
 */
export function classifyLog(bytes: Buffer | string): StderrReport {
  const text = typeof bytes === 'string' ? bytes : bytes.toString('utf8');
  const classifier = new StderrClassifier();
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const lineEnd = end > start && text.charCodeAt(end - 1) === 0x0d ? end - 1 : end;
    if (lineEnd > start) classifier.push(text.slice(start, lineEnd));
    start = end + 1;
  }
  return classifier.finish();
}

