import type { MessagePort } from 'node:worker_threads';

import type { LogFormat } from '../log/logger.js';
import type { TelemetryConfig } from './config.js';
import type { UploaderStats } from './upload/report-uploader.js';

/** Data the main thread passes to a new uploader thread. */
export interface UploaderWorkerData {
  /** The submission ring. It outlives any one uploader thread. */
  ring: SharedArrayBuffer;
  /** The comlink control channel; the main thread keeps the other end. */
  controlPort: MessagePort;
  config: TelemetryConfig;
  logDir: string;
  logging: { verbosity: number; format: LogFormat; file?: string };
}

/** Counters of one uploader thread since it started: those of its ReportUploader. */
export type { UploaderStats } from './upload/report-uploader.js';

export interface DrainOutcome {
  /** True when nothing was left queued or in flight at the end. */
  drained: boolean;
  /** Reports left pending in the outbox for the next start. */
  pending: number;
  waitedMs: number;
}

/** The calls the main thread makes on the uploader thread through comlink. */
export interface UploaderControl {
  stats(): UploaderStats;
  /** Takes what is left in the closed ring, then uploads until `deadlineMs` from now at most. */
  drain(deadlineMs: number): Promise<DrainOutcome>;
  /** Stops the uploader; what was not delivered stays pending in the outbox. */
  close(): Promise<void>;
}
