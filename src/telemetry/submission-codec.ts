/**
 * Binary form of a Submission, as it crosses the ring. The main thread encodes
 * straight into a ring slot, and the format is built for the fewest steps
 * there. All strings go out as one UTF-8 run written by one TextEncoder call at
 * byte 0 of the slot, and the decoder turns that run back into one string and
 * cuts it by lengths counted in UTF-16 code units. The fixed fields follow the
 * text as a trailer, because their place is known only once the text is written.
 *
 * Format version 1, little-endian, with n diagnostic kinds and T bytes of text:
 * ```
 * 0        UTF-8 of logPath, instanceId, runnerId, signal, primaryCause and each
 *          diagnostic kind, in that order, with no separators
 * T        u32 × n  lengths of the diagnostic kinds
 * T+4n     trailer of 40 bytes, read from the end of the record:
 *   +0     u32 × 5  lengths of logPath, instanceId, runnerId, signal, primaryCause
 *   +20    u32      n
 *   +24    i32      exit code (0 when absent)
 *   +28    f64      endedAtMs
 *   +36    u8       flags: bit 0 exit code present, bit 1 signal present
 *   +37    u8       kind (1 = runner-stderr)
 *   +38    u8       reserved, 0
 *   +39    u8       format version (1), the last byte of the record
 * ```
 * The catch: a lone UTF-16 surrogate is written as U+FFFD, one code unit for
 * one, so the lengths stay right and only that character changes.
 */
import { RECORD_TOO_LARGE } from '../channel/ring.js';
import { ExoError } from '../errors.js';
import type { Submission } from './submission.js';

export const SUBMISSION_FORMAT_VERSION = 1;
const KIND_RUNNER_STDERR = 1;
const FLAG_EXIT_CODE = 1;
const FLAG_SIGNAL = 2;

// Offsets inside the trailer.
const STRING_LENGTHS_OFFSET = 0;
const DIAGNOSTIC_COUNT_OFFSET = 20;
const EXIT_CODE_OFFSET = 24;
const ENDED_AT_OFFSET = 28;
const FLAGS_OFFSET = 36;
const KIND_OFFSET = 37;
const RESERVED_OFFSET = 38;
const VERSION_OFFSET = 39;
const TRAILER_BYTES = 40;

/** Code of the error thrown when a value to encode is not a valid Submission. */
export const ERR_SUBMISSION_INVALID = 'ERR_SUBMISSION_INVALID';
/** Code of the error thrown when bytes to decode are not a submission record. */
export const ERR_SUBMISSION_MALFORMED = 'ERR_SUBMISSION_MALFORMED';
/** Code of the error thrown by encodeSubmission when the record exceeds its size limit. */
export const ERR_SUBMISSION_TOO_LARGE = 'ERR_SUBMISSION_TOO_LARGE';

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Encodes `submission` into `target` from byte 0 and returns the number of bytes
 * written, or RECORD_TOO_LARGE when it does not fit. Nothing is cut, and the
 * bytes written before the size was known are left as garbage. `view` must be
 * a DataView over exactly the bytes of `target`, and passing one saves making
 * one per call. Throws an ExoError with code ERR_SUBMISSION_INVALID naming the
 * field when `submission` is not valid.
 */
export function encodeSubmissionInto(
  submission: Submission,
  target: Uint8Array,
  view = new DataView(target.buffer, target.byteOffset, target.byteLength),
): number {
  validateSubmission(submission);
  const kinds = submission.diagnosticKinds;
  const signal = submission.signal ?? '';

  // One encodeInto over the joined strings is cheaper than one per string,
  // because each call crosses into C++ and allocates its result object.
  let text = submission.logPath + submission.instanceId + submission.runnerId + signal + submission.primaryCause;
  for (let i = 0; i < kinds.length; i++) text += kinds[i];
  // encodeInto stops at the end of the target, so a short `read` means the text
  // did not fit.
  const { read, written } = textEncoder.encodeInto(text, target);
  const trailer = written + 4 * kinds.length;
  const length = trailer + TRAILER_BYTES;
  if (read !== text.length || length > target.length) return RECORD_TOO_LARGE;

  for (let i = 0; i < kinds.length; i++) view.setUint32(written + 4 * i, kinds[i]!.length, true);
  view.setUint32(trailer + STRING_LENGTHS_OFFSET, submission.logPath.length, true);
  view.setUint32(trailer + STRING_LENGTHS_OFFSET + 4, submission.instanceId.length, true);
  view.setUint32(trailer + STRING_LENGTHS_OFFSET + 8, submission.runnerId.length, true);
  view.setUint32(trailer + STRING_LENGTHS_OFFSET + 12, signal.length, true);
  view.setUint32(trailer + STRING_LENGTHS_OFFSET + 16, submission.primaryCause.length, true);
  view.setUint32(trailer + DIAGNOSTIC_COUNT_OFFSET, kinds.length, true);
  view.setInt32(trailer + EXIT_CODE_OFFSET, submission.exitCode ?? 0, true);
  view.setFloat64(trailer + ENDED_AT_OFFSET, submission.endedAtMs, true);
  const flags = (submission.exitCode === null ? 0 : FLAG_EXIT_CODE) | (submission.signal === null ? 0 : FLAG_SIGNAL);
  view.setUint8(trailer + FLAGS_OFFSET, flags);
  view.setUint8(trailer + KIND_OFFSET, KIND_RUNNER_STDERR);
  view.setUint8(trailer + RESERVED_OFFSET, 0);
  view.setUint8(trailer + VERSION_OFFSET, SUBMISSION_FORMAT_VERSION);
  return length;
}

/**
 * Returns `submission` encoded in a new array. Throws an ExoError with code
 * ERR_SUBMISSION_TOO_LARGE when it needs more than `maxBytes`, or
 * ERR_SUBMISSION_INVALID when `submission` is not valid.
 */
export function encodeSubmission(submission: Submission, maxBytes: number): Uint8Array {
  const target = new Uint8Array(maxBytes);
  const length = encodeSubmissionInto(submission, target);
  if (length === RECORD_TOO_LARGE) {
    throw new ExoError(
      ERR_SUBMISSION_TOO_LARGE,
      `submission for runner ${submission.runnerId} does not fit in ${maxBytes} bytes; shorten its log path or primary cause`,
    );
  }
  return target.slice(0, length);
}

/**
 * Returns the Submission encoded in `record`. Throws an ExoError with code
 * ERR_SUBMISSION_MALFORMED, saying what is wrong, when the bytes are not a
 * record of this format. The consumer logs such a record and skips it.
 */
export function decodeSubmission(record: Uint8Array): Submission {
  if (record.length < TRAILER_BYTES) {
    throw malformed(`${record.length} bytes, shorter than the ${TRAILER_BYTES}-byte trailer`);
  }
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const trailer = record.length - TRAILER_BYTES;

  const version = view.getUint8(trailer + VERSION_OFFSET);
  if (version !== SUBMISSION_FORMAT_VERSION) {
    throw malformed(`format version ${version}, expected ${SUBMISSION_FORMAT_VERSION}`);
  }
  const kind = view.getUint8(trailer + KIND_OFFSET);
  if (kind !== KIND_RUNNER_STDERR) {
    throw malformed(`unknown kind ${kind}`);
  }
  const flags = view.getUint8(trailer + FLAGS_OFFSET);
  if ((flags & ~(FLAG_EXIT_CODE | FLAG_SIGNAL)) !== 0) {
    throw malformed(`unknown flags 0x${flags.toString(16)}`);
  }
  const endedAtMs = view.getFloat64(trailer + ENDED_AT_OFFSET, true);
  if (!Number.isFinite(endedAtMs)) {
    throw malformed(`end time ${endedAtMs} is not a finite number`);
  }

  const kindCount = view.getUint32(trailer + DIAGNOSTIC_COUNT_OFFSET, true);
  const textEnd = trailer - 4 * kindCount;
  if (textEnd < 0) {
    throw malformed(`${kindCount} diagnostic kinds do not fit in ${record.length} bytes`);
  }
  const lengths: number[] = [];
  for (let i = 0; i < 5; i++) lengths.push(view.getUint32(trailer + STRING_LENGTHS_OFFSET + 4 * i, true));
  for (let i = 0; i < kindCount; i++) lengths.push(view.getUint32(textEnd + 4 * i, true));

  let text: string;
  try {
    text = textDecoder.decode(record.subarray(0, textEnd));
  } catch (error) {
    throw malformed('its text is not valid UTF-8', error);
  }
  const expectedLength = lengths.reduce((sum, length) => sum + length, 0);
  if (text.length !== expectedLength) {
    throw malformed(`text of ${text.length} UTF-16 code units, but the lengths add up to ${expectedLength}`);
  }

  const strings: string[] = [];
  let position = 0;
  for (const length of lengths) {
    strings.push(text.slice(position, position + length));
    position += length;
  }
  const [logPath, instanceId, runnerId, signal, primaryCause] = strings as [string, string, string, string, string];
  return {
    kind: 'runner-stderr',
    logPath,
    instanceId,
    runnerId,
    exitCode: (flags & FLAG_EXIT_CODE) !== 0 ? view.getInt32(trailer + EXIT_CODE_OFFSET, true) : null,
    signal: (flags & FLAG_SIGNAL) !== 0 ? signal : null,
    diagnosticKinds: strings.slice(5),
    primaryCause,
    endedAtMs,
  };
}

function malformed(reason: string, cause?: unknown): ExoError {
  return new ExoError(ERR_SUBMISSION_MALFORMED, `malformed submission record: ${reason}`, { cause });
}

/** Throws ERR_SUBMISSION_INVALID naming the first field that does not match the Submission type. */
function validateSubmission(submission: Submission): void {
  if (typeof submission !== 'object' || submission === null) {
    throw invalid('submission', submission);
  }
  if (submission.kind !== 'runner-stderr') throw invalid('kind', submission.kind);
  if (typeof submission.logPath !== 'string') throw invalid('logPath', submission.logPath);
  if (typeof submission.instanceId !== 'string') throw invalid('instanceId', submission.instanceId);
  if (typeof submission.runnerId !== 'string') throw invalid('runnerId', submission.runnerId);
  if (typeof submission.primaryCause !== 'string') throw invalid('primaryCause', submission.primaryCause);
  if (submission.signal !== null && typeof submission.signal !== 'string') throw invalid('signal', submission.signal);

  const { exitCode } = submission;
  if (exitCode !== null && !(Number.isInteger(exitCode) && exitCode >= -0x80000000 && exitCode <= 0x7fffffff)) {
    throw invalid('exitCode', exitCode);
  }
  if (typeof submission.endedAtMs !== 'number' || !Number.isFinite(submission.endedAtMs)) {
    throw invalid('endedAtMs', submission.endedAtMs);
  }

  const kinds: unknown = submission.diagnosticKinds;
  if (!Array.isArray(kinds)) throw invalid('diagnosticKinds', kinds);
  for (let i = 0; i < kinds.length; i++) {
    if (typeof kinds[i] !== 'string') throw invalid(`diagnosticKinds[${i}]`, kinds[i]);
  }
}

function invalid(field: string, value: unknown): ExoError {
  const valueText = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return new ExoError(ERR_SUBMISSION_INVALID, `invalid submission ${field} ${valueText}: expected the type declared in Submission`);
}
