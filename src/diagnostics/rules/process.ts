import type { DiagnosticKind } from '../kinds.js';
import { excerpt } from '../text.js';
import { type Finding, setDefined } from './finding.js';

interface NoticeKind {
  kind: DiagnosticKind;
  signal: string;
  message: string;
}

/** The notices that bash, sh and the C library print when a process dies by a signal. */
const NOTICES: Readonly<Record<string, NoticeKind>> = {
  Aborted: { kind: 'native.abort', signal: 'SIGABRT', message: 'abort notice' },
  'Abort trap': { kind: 'native.abort', signal: 'SIGABRT', message: 'abort notice' },
  'Segmentation fault': { kind: 'native.segfault', signal: 'SIGSEGV', message: 'segmentation fault' },
  'Bus error': { kind: 'native.segfault', signal: 'SIGBUS', message: 'bus error' },
  Killed: { kind: 'os.killed', signal: 'SIGKILL', message: 'kill notice from the shell' },
};
const NOTICE_WORD = /Aborted|Abort trap|Segmentation fault|Bus error|Killed/g;
/** zsh reports in lowercase: "zsh: killed     python3 serve.py". */
const ZSH_NOTICE = /\bzsh: (killed|abort|segmentation fault|bus error)( \(core dumped\))?(?=\s|$)/;
const ZSH_WORDS: Readonly<Record<string, string>> = {
  killed: 'Killed',
  abort: 'Aborted',
  'segmentation fault': 'Segmentation fault',
  'bus error': 'Bus error',
};

/**
 * Text allowed before a notice: the line start, or the end of a progress bar or
 * a tag (`\r`, `]`, `|`, `)`, `>`) and blanks. Bash adds the job's process id
 * ("line 3: 4242 Killed") or job number ("[1]+  Killed").
 */
const NOTICE_LEFT = /(?:^|[\r\]|)>])[ \t]*$/;
const NOTICE_LEFT_SHELL = /(?:^|\s)\d{1,10} $|\[\d{1,6}\][+-]?[ \t]+$/;
/**
 * Text allowed after a notice: nothing, "(core dumped)", a signal number ("Segmentation fault: 11"),
 * or two blanks and the command that died. A sentence that goes on after the word,
 * such as "Killed 3 stale workers", is not a notice.
 */
const NOTICE_RIGHT = /^(?:[ \t]*$|[ \t]*\(core dumped\)|: ?\d{1,3}\b|[ \t]{2,}\S)/;
const CORE_DUMPED = /^[ \t]*\(core dumped\)/;

/** Finds abort, segmentation fault, bus error and kill notices from a shell or the C library. */
export function matchProcessNotice(text: string, findings: Finding[]): void {
  const zsh = ZSH_NOTICE.exec(text);
  if (zsh !== null) {
    findings.push(noticeFinding(ZSH_WORDS[zsh[1]!]!, zsh[2] !== undefined, 'zsh', zsh.index));
    return;
  }

  NOTICE_WORD.lastIndex = 0;
  let match: RegExpExecArray | null;
  while ((match = NOTICE_WORD.exec(text)) !== null) {
    const before = textBefore(text, match.index);
    const after = textAfter(text, match.index + match[0].length);
    const shellJob = NOTICE_LEFT_SHELL.test(before);
    if ((NOTICE_LEFT.test(before) || shellJob) && (shellJob || NOTICE_RIGHT.test(after))) {
      findings.push(noticeFinding(match[0], CORE_DUMPED.test(after), undefined, match.index));
      return;
    }
  }
}

/** Context checked on each side of a notice word, in characters. */
const NOTICE_CONTEXT_CHARS = 24;

/** Returns the characters before `index`, led by a NUL when cut, so that `^` only matches the real line start. */
function textBefore(text: string, index: number): string {
  if (index <= NOTICE_CONTEXT_CHARS) return text.slice(0, index);
  return `\0${text.slice(index - NOTICE_CONTEXT_CHARS, index)}`;
}

/** Returns the characters from `index` on, ended by a NUL when cut, so that `$` only matches the real line end. */
function textAfter(text: string, index: number): string {
  if (text.length - index <= NOTICE_CONTEXT_CHARS) return text.slice(index);
  return `${text.slice(index, index + NOTICE_CONTEXT_CHARS)}\0`;
}

function noticeFinding(word: string, coreDumped: boolean, shell: string | undefined, index: number): Finding {
  const notice = NOTICES[word]!;
  const message = coreDumped ? `${notice.message} (core dumped)` : notice.message;
  const fields = setDefined({ signal: notice.signal }, { coreDumped: coreDumped || undefined, shell });
  return { kind: notice.kind, message, fields, index };
}

/**
 * A hang or watchdog expiry that the runner reports about itself. NCCL's own
 * watchdog lines are left to the NCCL rules. Configuration lines such as
 * "watchdog timeout=600" do not match, because the words must state that it fired.
 */
const WATCHDOG_FIRED = /\bwatchdog\b[^\r]{0,80}?\b(?:timed out|expired|fired|triggered|timeout (?:reached|exceeded|expired|elapsed))\b/i;
const RUNNER_HUNG = /\b(?:appears|seems) to be (?:hung|stuck)\b|\b(?:is|was|got) (?:hung|stuck)\b|\b(?:hung|stuck) for \d/i;
const DISTRIBUTED_WORDS = /NCCL|collective/;
const HANG_DETAIL_MAX_CHARS = 160;

/** Finds a hang or watchdog timeout that the runner reported itself. */
export function matchHang(text: string, findings: Finding[]): void {
  const match = WATCHDOG_FIRED.exec(text) ?? RUNNER_HUNG.exec(text);
  if (match === null || DISTRIBUTED_WORDS.test(text)) return;

  const detail = excerpt(text, match.index).slice(0, HANG_DETAIL_MAX_CHARS);
  findings.push({ kind: 'runner.hang_timeout', message: `hang reported by the runner: ${detail}`, fields: { detail }, index: match.index });
}
