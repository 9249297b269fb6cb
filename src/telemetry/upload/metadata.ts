import type { ReportFacts } from '../outbox/types.js';

/** Maximum length of the primary cause sent, in characters, because the collector bounds the size of the metadata object. */
const MAX_PRIMARY_CAUSE_LENGTH = 512;
const MAX_DIAGNOSTIC_KINDS = 32;
const MAX_DIAGNOSTIC_KIND_LENGTH = 128;

/** Facts about the bytes sent, for the metadata. */
export interface PayloadDescription {
  originalSize: number;
  truncated: boolean;
  redacted: boolean;
  redactionCounts: Record<string, number>;
}

/**
 * Builds the `metadata` object of a presign request: how the runner ended, what
 * was found in its stderr, the versions, and how the bytes were redacted and cut.
 *
 * `primaryCause` is made from stderr lines, so with redaction on it must be
 * passed in already redacted.
 */
export function buildMetadata(
  facts: ReportFacts,
  payload: PayloadDescription,
  versions: Readonly<Record<string, string>>,
): Record<string, unknown> {
  const cause = facts.primaryCause.length > MAX_PRIMARY_CAUSE_LENGTH ? `${facts.primaryCause.slice(0, MAX_PRIMARY_CAUSE_LENGTH)}...` : facts.primaryCause;
  return {
    kind: 'runner-stderr',
    instanceId: facts.instanceId,
    runnerId: facts.runnerId,
    exitCode: facts.exitCode,
    signal: facts.signal,
    diagnosticKinds: facts.diagnosticKinds.slice(0, MAX_DIAGNOSTIC_KINDS).map((kind) => kind.slice(0, MAX_DIAGNOSTIC_KIND_LENGTH)),
    primaryCause: cause,
    endedAt: Number.isFinite(facts.endedAtMs) ? new Date(facts.endedAtMs).toISOString() : null,
    versions: { ...versions },
    redaction: { enabled: payload.redacted, counts: { ...payload.redactionCounts } },
    truncated: payload.truncated,
    originalSize: payload.originalSize,
  };
}
