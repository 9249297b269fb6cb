import path from 'node:path';

import { UsageError } from '../../errors.js';
import { resolveApiUrl } from '../api-url.js';
import { DEFAULT_BACKOFF_POLICY, type BackoffPolicy } from '../backoff.js';
import { payloadTempDir } from '../outbox/layout.js';
import type { OutboxLimits } from '../outbox/outbox.js';
import { localRedactOptions, type RedactOptions } from '../redact/options.js';

/** Settings of a ReportUploader. Only the first four are required; the rest have the defaults below. */
export interface UploaderConfig {
  /** The node's log dir: logs under `<logDir>/runner_log`, state under `<logDir>/telemetry`. */
  logDir: string;
  /** API base, as returned by resolveApiUrl. */
  apiUrl: string;
  /** `dry-run` reads, redacts and hashes, logs what it would send, and opens no socket. */
  mode: 'upload' | 'dry-run';
  redact: boolean;
  /** Names and folders to redact besides the fixed secret formats. Default: localRedactOptions(). */
  redactOptions?: RedactOptions;
  /** Timeout of the presign request, and maximum stall of a PUT, in milliseconds. Default 10 000. */
  timeoutMs?: number;
  /** Network attempts per report in one run; a report past it stays pending. Default 5. */
  maxAttemptsPerReport?: number;
  /** Network attempts per minute over all reports, so an outage cannot become a retry storm. Default 30. */
  attemptsPerMinute?: number;
  backoff?: Partial<BackoffPolicy>;
  /** Interval between two pending reports taken from the outbox in the background, in milliseconds. Default 1 000. */
  requeueIntervalMs?: number;
  /** Folder of redacted copies. Default `<logDir>/telemetry/tmp`. */
  tempDir?: string;
  /** Reports processed at once. Default 1. */
  concurrency?: number;
  /** Reports held in memory (queued, in flight or waiting to retry); the rest wait in the outbox. Default 16. */
  maxQueued?: number;
  outboxLimits?: Partial<OutboxLimits>;
  /** Versions sent in the metadata, such as `{ exo: '0.1.0' }`. The Node.js version is always added. */
  versions?: Record<string, string>;
  /** Random source of the backoff jitter, in [0, 1). Default Math.random. */
  random?: () => number;
  /** Returns how many submissions the ring dropped, for the run counters. */
  readChannelDrops?: () => number;
  /**
   * Background requeue (upload mode): when true, the default, pending reports
   * are taken from the outbox in the background, both those of earlier runs and
   * those past maxQueued. When false, only what is enqueued or passed to
   * queuePending is processed.
   */
  backgroundRequeue?: boolean;
}

/** An UploaderConfig with every default filled in. */
export type ResolvedUploaderConfig = Required<Omit<UploaderConfig, 'readChannelDrops' | 'outboxLimits' | 'backoff'>> & {
  backoff: BackoffPolicy;
  outboxLimits: Partial<OutboxLimits>;
  readChannelDrops: (() => number) | undefined;
};

export const DEFAULT_UPLOAD_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_ATTEMPTS_PER_REPORT = 5;
export const DEFAULT_ATTEMPTS_PER_MINUTE = 30;
export const DEFAULT_REQUEUE_INTERVAL_MS = 1_000;
export const DEFAULT_CONCURRENCY = 1;
export const DEFAULT_MAX_QUEUED = 16;

function invalid(option: string, value: unknown, expected: string): never {
  throw new UsageError('ERR_INVALID_UPLOADER_CONFIG', `invalid uploader option ${option}: ${JSON.stringify(value)}; expected ${expected}`);
}

function positiveInteger(option: string, value: number | undefined, fallback: number): number {
  const resolved = value ?? fallback;
  if (!Number.isSafeInteger(resolved) || resolved < 1) invalid(option, value, 'an integer of 1 or more');
  return resolved;
}

function positiveNumber(option: string, value: number | undefined, fallback: number): number {
  const resolved = value ?? fallback;
  if (!Number.isFinite(resolved) || resolved <= 0) invalid(option, value, 'a number above 0');
  return resolved;
}

/** Fills in the defaults and checks every value. Throws UsageError ERR_INVALID_UPLOADER_CONFIG naming the option. */
export function resolveUploaderConfig(config: UploaderConfig): ResolvedUploaderConfig {
  if (typeof config.logDir !== 'string' || !path.isAbsolute(config.logDir)) invalid('logDir', config.logDir, 'an absolute path');
  if (config.mode !== 'upload' && config.mode !== 'dry-run') invalid('mode', config.mode, "'upload' or 'dry-run'");

  const backoff = { ...DEFAULT_BACKOFF_POLICY, ...config.backoff };
  for (const [name, value] of Object.entries(backoff)) positiveNumber(`backoff.${name}`, value, 1);

  return {
    logDir: config.logDir,
    // The API URL passes the same transport check as the flag, so a programmatic caller cannot skip it.
    apiUrl: resolveApiUrl(config.apiUrl, {}),
    mode: config.mode,
    redact: config.redact !== false,
    redactOptions: config.redactOptions ?? localRedactOptions(),
    timeoutMs: positiveNumber('timeoutMs', config.timeoutMs, DEFAULT_UPLOAD_TIMEOUT_MS),
    maxAttemptsPerReport: positiveInteger('maxAttemptsPerReport', config.maxAttemptsPerReport, DEFAULT_MAX_ATTEMPTS_PER_REPORT),
    attemptsPerMinute: positiveInteger('attemptsPerMinute', config.attemptsPerMinute, DEFAULT_ATTEMPTS_PER_MINUTE),
    backoff,
    requeueIntervalMs: positiveNumber('requeueIntervalMs', config.requeueIntervalMs, DEFAULT_REQUEUE_INTERVAL_MS),
    tempDir: config.tempDir ?? payloadTempDir(config.logDir),
    concurrency: positiveInteger('concurrency', config.concurrency, DEFAULT_CONCURRENCY),
    maxQueued: positiveInteger('maxQueued', config.maxQueued, DEFAULT_MAX_QUEUED),
    outboxLimits: config.outboxLimits ?? {},
    versions: { ...config.versions, node: process.version },
    random: config.random ?? Math.random,
    readChannelDrops: config.readChannelDrops,
    backgroundRequeue: config.backgroundRequeue !== false,
  };
}
