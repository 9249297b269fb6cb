import { errorCode } from '../../errors.js';
import type { PayloadFacts, UploadStep } from '../outbox/types.js';
import type { Submission } from '../submission.js';
import type { ResolvedUploaderConfig } from './config.js';
import { failureFromError, UploadStepError, type UploadFailure } from './failure.js';
import type { FileHasher } from './hasher.js';
import { buildMetadata } from './metadata.js';
import { LOG_GONE_CODE, openRunnerLog, UNSAFE_LOG_PATH_CODE, type OpenedLog } from './path-safety.js';
import {
  buildPayloadFile,
  hashPayloadSlice,
  payloadChanged,
  readPayloadSlice,
  releasePayloadFile,
  type PayloadFile,
  type PayloadSlice,
} from './payload.js';
import { requestPresign, type PresignGrant } from './presign.js';
import { putPayload } from './put.js';

/**
 * An upload URL with less than this left is treated as expired and presigned
 * again: the PUT could otherwise start after the URL ends.
 */
export const MIN_URL_LIFETIME_MS = 1_000;

/** Presign requests in one attempt (after a cut to `maxSize`, a changed file or an expired URL) before it fails. */
const MAX_PRESIGNS_PER_ATTEMPT = 4;

export const PRESIGN_UNUSABLE_CODE = 'ERR_PRESIGN_UNUSABLE';

/** Result of one processing of a report. */
export type AttemptOutcome =
  | { kind: 'delivered'; key: string; payload: PayloadFacts }
  | { kind: 'skipped'; reason: string }
  | { kind: 'gone'; reason: string }
  | { kind: 'rejected'; reason: string; failure: UploadFailure }
  | { kind: 'dry-run'; payload: PayloadFacts }
  | { kind: 'failed'; failure: UploadFailure; payload?: PayloadFacts };

/** A report as passed to an attempt. `knownMaxSize` is kept between attempts of one run. */
export interface AttemptReport {
  id: string;
  submission: Submission;
  knownMaxSize?: number;
}

/** Engine services that an attempt uses. */
export interface AttemptContext {
  config: ResolvedUploaderConfig;
  hasher: FileHasher;
  now: () => number;
  /** Waits for the global attempt limit, then counts one network attempt of the report. */
  beginNetworkAttempt: (signal: AbortSignal) => Promise<void>;
  /** Returns the primary cause as it may leave the machine (redacted when redaction is on). */
  redactCause: (text: string) => string;
}

/**
 * Runs one attempt of a report: open the log safely, build the payload
 * (redacted copy or the log itself), hash it, presign, PUT. Never throws:
 * every way it can end is an AttemptOutcome.
 */
export async function runAttempt(context: AttemptContext, report: AttemptReport, signal: AbortSignal): Promise<AttemptOutcome> {
  const prepared = await preparePayloadFile(context, report, signal);
  if ('kind' in prepared) return prepared;
  const { opened, file } = prepared;

  let slice: PayloadSlice | undefined;
  try {
    slice = await hashSlice(context, file, report.knownMaxSize, signal);
    await context.beginNetworkAttempt(signal);
    const presigned = await presignSlice(context, report, file, slice, signal);
    slice = presigned.slice;

    await putPayload(presigned.grant, readPayloadSlice(file, slice), slice, {
      timeoutMs: context.config.timeoutMs,
      signal,
      now: context.now,
    });
    return { kind: 'delivered', key: presigned.grant.key, payload: payloadFacts(file, slice) };
  } catch (error) {
    const failure = failureFromError('presign', error, signal);
    return { kind: 'failed', failure, payload: slice === undefined ? undefined : payloadFacts(file, slice) };
  } finally {
    await releasePayloadFile(file).catch(() => undefined);
    await opened.handle.close().catch(() => undefined);
  }
}

/** Runs the local steps of an attempt (open, redact, hash) and returns what would be uploaded. Opens no socket. */
export async function runDryRun(context: AttemptContext, report: AttemptReport, signal: AbortSignal): Promise<AttemptOutcome> {
  const prepared = await preparePayloadFile(context, report, signal);
  if ('kind' in prepared) return prepared;
  const { opened, file } = prepared;

  try {
    const slice = await hashSlice(context, file, undefined, signal);
    return { kind: 'dry-run', payload: payloadFacts(file, slice) };
  } catch (error) {
    return { kind: 'failed', failure: failureFromError('hash', error, signal) };
  } finally {
    await releasePayloadFile(file).catch(() => undefined);
    await opened.handle.close().catch(() => undefined);
  }
}

/** Opens the log and builds the payload file, or returns the outcome that ends the report here. */
async function preparePayloadFile(
  context: AttemptContext,
  report: AttemptReport,
  signal: AbortSignal,
): Promise<{ opened: OpenedLog; file: PayloadFile } | AttemptOutcome> {
  let opened: OpenedLog;
  try {
    opened = await openRunnerLog(context.config.logDir, report.id);
  } catch (error) {
    return localFailureOutcome('stat', error, signal);
  }
  if (opened.stats.size === 0) {
    await opened.handle.close().catch(() => undefined);
    return { kind: 'skipped', reason: 'empty log' };
  }

  try {
    const file = await buildPayloadFile(opened, context.config);
    if (signal.aborted) {
      await releasePayloadFile(file);
      throw signal.reason;
    }
    return { opened, file };
  } catch (error) {
    await opened.handle.close().catch(() => undefined);
    return localFailureOutcome(context.config.redact ? 'redact' : 'stat', error, signal);
  }
}

/** Maps an error of a local step: a vanished log is gone, an unsafe path is rejected, anything else failed. */
function localFailureOutcome(step: UploadStep, error: unknown, signal: AbortSignal): AttemptOutcome {
  const code = errorCode(error);
  const failure = failureFromError(step, error, signal);
  if (code === LOG_GONE_CODE || code === 'ENOENT') return { kind: 'gone', reason: failure.message };
  if (code === UNSAFE_LOG_PATH_CODE) return { kind: 'rejected', reason: failure.message, failure };
  return { kind: 'failed', failure };
}

async function hashSlice(context: AttemptContext, file: PayloadFile, maxSize: number | undefined, signal: AbortSignal): Promise<PayloadSlice> {
  try {
    return await hashPayloadSlice(file, maxSize, (request) => context.hasher.hash(request, signal));
  } catch (error) {
    throw new UploadStepError(failureFromError('hash', error, signal));
  }
}

/**
 * Presigns the slice and returns a grant that can be used now. Cuts the slice
 * to the last `maxSize` bytes when the server's limit is smaller, hashes again
 * when the file changed since it was hashed, and presigns again when the URL
 * would expire before the PUT starts.
 */
async function presignSlice(
  context: AttemptContext,
  report: AttemptReport,
  file: PayloadFile,
  initial: PayloadSlice,
  signal: AbortSignal,
): Promise<{ grant: PresignGrant; slice: PayloadSlice }> {
  let slice = initial;
  const reasons: string[] = [];
  for (let request = 0; request < MAX_PRESIGNS_PER_ATTEMPT; request += 1) {
    const metadata = buildMetadata(
      { ...report.submission, primaryCause: context.redactCause(report.submission.primaryCause) },
      { originalSize: file.originalSize, truncated: slice.truncated, redacted: file.redacted, redactionCounts: file.redactionCounts },
      context.config.versions,
    );

    let grant: PresignGrant;
    try {
      grant = await requestPresign(context.config.apiUrl, { sha256: slice.sha256, size: slice.size, metadata }, {
        timeoutMs: context.config.timeoutMs,
        signal,
        now: context.now,
      });
    } catch (error) {
      const failure = failureFromError('presign', error, signal);
      if (failure.maxSize === undefined || slice.size <= failure.maxSize) throw error;
      report.knownMaxSize = failure.maxSize;
      slice = await hashSlice(context, file, failure.maxSize, signal);
      reasons.push(`rejected with maxSize ${failure.maxSize}`);
      continue;
    }

    if (slice.size > grant.maxSize) {
      report.knownMaxSize = grant.maxSize;
      slice = await hashSlice(context, file, grant.maxSize, signal);
      reasons.push(`maxSize ${grant.maxSize}`);
      continue;
    }
    if (await payloadChanged(file)) {
      slice = await hashSlice(context, file, report.knownMaxSize, signal);
      reasons.push('payload changed');
      continue;
    }
    if (context.now() >= grant.receivedAtMs + grant.expiresIn * 1000 - MIN_URL_LIFETIME_MS) {
      reasons.push(`uploadUrl expires in ${grant.expiresIn} s`);
      continue;
    }
    return { grant, slice };
  }

  throw new UploadStepError({
    step: 'presign',
    code: PRESIGN_UNUSABLE_CODE,
    message: `no usable presign after ${MAX_PRESIGNS_PER_ATTEMPT} requests (${reasons.join(', ')})`,
  });
}

function payloadFacts(file: PayloadFile, slice: PayloadSlice): PayloadFacts {
  return {
    size: slice.size,
    sha256: slice.sha256,
    originalSize: file.originalSize,
    truncated: slice.truncated,
    redacted: file.redacted,
    redactionCounts: { ...file.redactionCounts },
  };
}
