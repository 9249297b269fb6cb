import { matchJaccl, matchNccl, matchRing } from './distributed.js';
import type { Finding } from './finding.js';
import { matchGpuOutOfMemory, matchMetal } from './gpu.js';
import { matchAssertion, matchCppTermination } from './native.js';
import { matchHang, matchProcessNotice } from './process.js';

export type { Finding } from './finding.js';

/**
 * The words that open every diagnostic that can matter in the middle of a stream:
 * "error" or "errno" (Metal, ring, jaccl, CUDA, NCCL errors, Python exception
 * types and fatal errors) and "Traceback". The classifier tests each line against
 * this pattern once, so it stays this short: V8 scans a line about half as fast
 * for each few words added, and a slower test would slow every line of every runner.
 */
export const STREAM_PREFILTER = /rr[on][or]|Traceback/;

/**
 * Runs the single-line rules on a line. Each rule runs only when the line contains
 * a word it needs (in either case where the rule ignores case), so a line that merely
 * contains "errors_total=0" costs a few substring searches, not every rule's patterns.
 */
export function matchLine(text: string, findings: Finding[]): void {
  const watchdog = text.includes('atchdog') || text.includes('ATCHDOG');

  if (text.includes('kIOGPU') || text.includes('uffer') || text.includes('UFFER')) matchMetal(text, findings);
  if (text.includes('emory') || text.includes('EMORY') || text.includes('lloc') || text.includes('LLOC')) matchGpuOutOfMemory(text, findings);
  if (text.includes('ocket') || text.includes('OCKET') || text.includes('ecv') || text.includes('ECV') || text.includes('ould') || text.includes('OULD')) matchRing(text, findings);
  if (text.includes('accl') || text.includes('ACCL')) matchJaccl(text, findings);
  if (watchdog || text.includes('NCCL')) matchNccl(text, findings);
  if (text.includes('terminat')) matchCppTermination(text, findings);
  if (text.includes('ssert') || text.includes('SSERT')) matchAssertion(text, findings);
  if (text.includes('illed') || text.includes('bort') || text.includes('gmentation') || text.includes('us error')) matchProcessNotice(text, findings);
  if (watchdog || text.includes('ung') || text.includes('UNG') || text.includes('tuck') || text.includes('TUCK')) matchHang(text, findings);
}
