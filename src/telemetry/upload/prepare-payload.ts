import path from 'node:path';

import { openOutboxReader, reportFactsOf } from '../outbox/outbox.js';
import { payloadTempDir } from '../outbox/layout.js';
import { parseReportId, reportIdFor } from '../outbox/report-id.js';
import { submissionForUnknownEnd } from '../submission.js';
import type { ReportFacts } from '../outbox/types.js';
import { localRedactOptions, type RedactOptions } from '../redact/options.js';
import { redactText } from '../redact/redactor.js';
import { hashFileRange } from './hash-file.js';
import { buildMetadata } from './metadata.js';
import { openRunnerLog } from './path-safety.js';
import { buildPayloadFile, hashPayloadSlice, releasePayloadFile } from './payload.js';

export interface PreparePayloadOptions {
  logDir: string;
  redact: boolean;
  redactOptions?: RedactOptions;
  tempDir?: string;
  versions?: Record<string, string>;
}

/** Exactly what an upload of one log would send, before any server limit applies. */
export interface PreparedPayload {
  reportId: string;
  /** File holding the bytes: a redacted copy, or the log itself when redaction is off. */
  file: string;
  size: number;
  sha256: string;
  /** The `metadata` object of the presign request. */
  metadata: Record<string, unknown>;
  /** Removes the redacted copy, if one was made. */
  dispose: () => Promise<void>;
}

/**
 * Builds the payload of a log the way the uploader does (same path checks,
 * same redaction, same hash and metadata) without any network, for
 * `exo telemetry show`. The exit status and diagnostics come from the log's
 * outbox entry when there is one. A server whose `maxSize` is smaller than
 * `size` would receive only the last `maxSize` bytes.
 */
export async function preparePayload(logPath: string, options: PreparePayloadOptions): Promise<PreparedPayload> {
  const reportId = reportIdFor(options.logDir, path.resolve(logPath));
  const redactOptions = options.redactOptions ?? localRedactOptions();
  const opened = await openRunnerLog(options.logDir, reportId);

  try {
    const file = await buildPayloadFile(opened, {
      logDir: options.logDir,
      redact: options.redact,
      redactOptions,
      tempDir: options.tempDir ?? payloadTempDir(options.logDir),
    });
    try {
      const slice = await hashPayloadSlice(file, undefined, hashFileRange);
      const facts = (await openOutboxReader(options.logDir).read(reportId))?.report ?? factsFromId(reportId, opened.path);
      const primaryCause = options.redact ? redactText(facts.primaryCause, redactOptions).output.toString('utf8') : facts.primaryCause;
      const metadata = buildMetadata(
        { ...facts, primaryCause },
        { originalSize: file.originalSize, truncated: false, redacted: file.redacted, redactionCounts: file.redactionCounts },
        { ...options.versions, node: process.version },
      );
      return {
        reportId,
        file: file.path,
        size: slice.size,
        sha256: slice.sha256,
        metadata,
        dispose: () => releasePayloadFile(file),
      };
    } catch (error) {
      await releasePayloadFile(file);
      throw error;
    }
  } finally {
    await opened.handle.close();
  }
}

function factsFromId(reportId: string, logPath: string): ReportFacts {
  return reportFactsOf(submissionForUnknownEnd(parseReportId(reportId)!, logPath, Number.NaN));
}
