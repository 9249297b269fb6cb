import os from 'node:os';

import { type DiagnosticKind, KIND_SPECIFICITY } from './kinds.js';
import type { Diagnostic, ExitStatus, StderrReport } from './types.js';

/** The words for a report without any diagnostic, when no exit status is known. */
export const NO_KNOWN_CAUSE = 'no known cause';

/** Describes how a process ended: "exit code 1" or "signal 6 (SIGABRT)". */
export function describeExit(status: ExitStatus): string {
  if (status.exitCode !== null) return `exit code ${status.exitCode}`;
  if (status.signal !== null) {
    const number = (os.constants.signals as Record<string, number | undefined>)[status.signal];
    return number === undefined ? `signal ${status.signal}` : `signal ${number} (${status.signal})`;
  }
  return 'unknown exit status';
}

/**
 * Picks the diagnostic that best explains the end: the most specific kind (see
 * KIND_SPECIFICITY). Among equals the first one wins, because later ones tend to be
 * consequences, except for Python exceptions: the last one printed is the one that
 * ended the interpreter.
 */
export function primaryDiagnostic(report: StderrReport): Diagnostic | undefined {
  let best: Diagnostic | undefined;
  let bestSpecificity = -1;
  for (const diagnostic of report.diagnostics) {
    const specificity = KIND_SPECIFICITY[diagnostic.kind as DiagnosticKind] ?? 0;
    const laterWins = diagnostic.kind === 'python.exception' && specificity === bestSpecificity;
    if (specificity > bestSpecificity || laterWins) {
      best = diagnostic;
      bestSpecificity = specificity;
    }
  }
  return best;
}

/**
 * Describes a runner's end in one line for a person, for example "signal 6
 * (SIGABRT) after a Metal GPU timeout" or "exit code 1: Python ImportError:
 * libmlx.so: cannot open shared object file". Exit code 0 is a clean end and
 * reads "exit code 0" whatever stderr showed.
 */
export function primaryCause(status: ExitStatus, report: StderrReport): string {
  const exit = describeExit(status);
  if (status.exitCode === 0) return exit;

  const primary = primaryDiagnostic(report);
  if (primary === undefined) return exit;
  if (status.exitCode === null && status.signal !== null) return `${exit} after ${withArticle(primary.message)}`;
  return `${exit}: ${primary.message}`;
}

/** Describes the cause from the diagnostics alone, for a log whose exit status is unknown. */
export function causeFromDiagnostics(report: StderrReport): string {
  return primaryDiagnostic(report)?.message ?? NO_KNOWN_CAUSE;
}

/**
 * Letters whose name starts with a vowel sound: "an NCCL timeout", "an MPS error",
 * but "a GPU timeout". Used only when the first word is all capitals.
 */
const VOWEL_SOUND_CAPITALS = new Set('AEFHILMNORSX');

/** Puts "a" or "an" before a message that starts with a noun phrase. */
function withArticle(phrase: string): string {
  const firstWord = /^[A-Za-z+]+/.exec(phrase)?.[0] ?? '';
  const acronym = firstWord.length > 1 && firstWord === firstWord.toUpperCase();
  const first = phrase.charAt(0);
  const vowelSound = acronym ? VOWEL_SOUND_CAPITALS.has(first) : /[aeiou]/i.test(first);
  return `${vowelSound ? 'an' : 'a'} ${phrase}`;
}
