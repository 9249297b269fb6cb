import { expect } from 'chai';

import { StderrClassifier } from '../src/diagnostics/classifier.js';
import { FatalErrorParser, TracebackParser } from '../src/diagnostics/python.js';
import { type Finding, matchLine } from '../src/diagnostics/rules/index.js';
import { excerpt, lastSegment, stripAnsi } from '../src/diagnostics/text.js';

/**
 * Linear time is checked by ratio, not by a wall-clock limit: the same work on an
 * input SIZE_FACTOR times as long must take well under SIZE_FACTOR squared times
 * as long, which a quadratic pattern would take. Short and long runs alternate and
 * the fastest of each counts, so machine noise hits both alike. A pattern that
 * really backtracks on these sizes would not finish before the test's timeout anyway.
 */
const SIZE_FACTOR = 8;
/** Linear work gives about 8 and quadratic work 64; the margin absorbs a loaded machine. */
const MAX_TIME_RATIO = 32;
const RUNS = 9;

/** Returns how much longer `work` takes on an input `factor` times as long as `shortChars`. */
function timeRatio(work: (input: string) => void, makeInput: (chars: number) => string, shortChars: number, factor = SIZE_FACTOR): number {
  const short = makeInput(shortChars);
  const long = makeInput(shortChars * factor);
  work(short);
  work(long);

  let shortMs = Number.POSITIVE_INFINITY;
  let longMs = Number.POSITIVE_INFINITY;
  for (let run = 0; run < RUNS; run++) {
    shortMs = Math.min(shortMs, elapsedMs(() => work(short)));
    longMs = Math.min(longMs, elapsedMs(() => work(long)));
  }
  // Below about a millisecond, timer resolution and call overhead dominate the ratio.
  return longMs / Math.max(shortMs, 1);
}

function elapsedMs(work: () => void): number {
  const start = process.hrtime.bigint();
  work();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function repeatTo(fragment: string, chars: number): string {
  return fragment.repeat(Math.ceil(chars / fragment.length)).slice(0, chars);
}

/** Words that open every rule's gate in matchLine, so every pattern runs on the input. */
const ALL_GATES = 'kIOGPU buffer memory alloc socket recv could jaccl watchdog NCCL terminat assert ASSERT killed abort segmentation bus error hung stuck ';

/** Fragments that make the patterns try many starts or long partial matches. */
const ADVERSARIAL_FRAGMENTS = [
  'a',
  ' ',
  '\r',
  '0123456789abcdef:',
  'kIOGPUCommandBufferCallbackError',
  'command buffer execution failed ',
  'Receiving from socket 1 failed with errno ',
  'Sending to socket ',
  'too many send/recv errors ',
  "couldn't connect ",
  'errno ',
  '(error: ',
  '[jaccl] ',
  '[PG ',
  '[Rank ',
  'watchdog ',
  'watchdog caught collective operation timeout ',
  'NCCL watchdog thread terminated with exception ',
  'OpType=',
  'CUDA out of memory ',
  'tried to allocate 1.0 ',
  'size = 1',
  'metal::malloc] ',
  'ggml failed to allocate ',
  'GGML_ASSERT: a',
  'GGML_ASSERT(',
  'x:1:',
  'Assertion `',
  'Assertion failed: (',
  '), function ',
  'terminate called after throwing an instance of ',
  'libc++abi: terminating due to uncaught exception of type ',
  'what(): ',
  'Killed ',
  'Aborted',
  '1 Killed',
  '[1]+ Killed ',
  'zsh: killed',
  'is hung ',
  'appears to be ',
  '\x1b[',
  '\x1b]',
  '[1;',
  'File "',
  '  File "a", line 1',
  'Traceback (most recent call last):',
  'Fatal Python error: ',
];

/** Returns a deterministic mix of every fragment, for patterns that interact. */
function mixedFragments(chars: number): string {
  let text = '';
  let state = 7;
  while (text.length < chars) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    text += ADVERSARIAL_FRAGMENTS[state % ADVERSARIAL_FRAGMENTS.length];
  }
  return text.slice(0, chars);
}

function runLineRules(text: string): void {
  const findings: Finding[] = [];
  matchLine(text, findings);
}

function runParsers(text: string): void {
  const traceback = new TracebackParser();
  traceback.maybeStart('Traceback (most recent call last):');
  traceback.feed(text);
  traceback.maybeStart(text);
  const fatal = new FatalErrorParser();
  fatal.maybeStart('Fatal Python error: Segmentation fault');
  fatal.feed(text);
  fatal.maybeStart(text);
}

function runTextHelpers(text: string): void {
  stripAnsi(text);
  excerpt(text, text.length >> 1);
  lastSegment(text);
}

describe('classification time', () => {
  before(() => {
    // Compile the patterns and optimize the functions first, so the first test measures steady work.
    const warmUp = ALL_GATES + mixedFragments(256 * 1024);
    for (let round = 0; round < 3; round++) {
      runLineRules(warmUp);
      runParsers(warmUp);
      runTextHelpers(warmUp);
    }
  });

  it('linear on 1 MB and 4 MB lines', () => {
    const line = (chars: number) => `${repeatTo('error in shard 3; ', chars - 60)}[ring] Receiving from socket 5 failed with errno 14`;
    const classifyLine = (text: string) => {
      const classifier = new StderrClassifier();
      classifier.push(text);
      expect(classifier.finish().diagnostics).to.have.lengthOf(1);
    };

    // Four times the length at most doubles the time; a quadratic classifier would take 16 times as long.
    expect(timeRatio(classifyLine, line, 1024 * 1024, 4)).to.be.below(8);
  });

  for (const fragment of ADVERSARIAL_FRAGMENTS) {
    it(`linear rules on ${JSON.stringify(fragment.slice(0, 24))}`, () => {
      const input = (chars: number) => ALL_GATES + repeatTo(fragment, chars);

      expect(timeRatio(runLineRules, input, 64 * 1024), 'line rules').to.be.below(MAX_TIME_RATIO);
      expect(timeRatio(runParsers, input, 64 * 1024), 'Python parsers').to.be.below(MAX_TIME_RATIO);
      expect(timeRatio(runTextHelpers, input, 64 * 1024), 'text helpers').to.be.below(MAX_TIME_RATIO);
    });
  }

  it('linear on a mix of every fragment', () => {
    const input = (chars: number) => ALL_GATES + mixedFragments(chars);

    expect(timeRatio(runLineRules, input, 64 * 1024)).to.be.below(MAX_TIME_RATIO);
    expect(timeRatio(runParsers, input, 64 * 1024)).to.be.below(MAX_TIME_RATIO);
    expect(timeRatio(runTextHelpers, input, 64 * 1024)).to.be.below(MAX_TIME_RATIO);
  });

  it('linear on many lines of a stream', () => {
    const stream = (chars: number) => {
      const text = mixedFragments(chars);
      const lines: string[] = [];
      for (let start = 0; start < text.length; start += 64) lines.push(text.slice(start, start + 64));
      return lines.join('\n');
    };
    const classifyStream = (text: string) => {
      const classifier = new StderrClassifier();
      for (const line of text.split('\n')) classifier.push(line);
      classifier.finish();
    };

    expect(timeRatio(classifyStream, stream, 64 * 1024)).to.be.below(MAX_TIME_RATIO);
  });
});
