import { UsageError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { MIN_SECRET_BYTES } from './secret.js';
import { defaultStoreDir } from './store-dir.js';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8787;
export const DEFAULT_MAX_SIZE_BYTES = 50 * 1024 * 1024;
export const DEFAULT_TOKEN_TTL_SECONDS = 900;
export const MAX_TOKEN_TTL_SECONDS = 24 * 60 * 60;
/** Presign requests per client per minute. A node sends one per runner crash. */
export const DEFAULT_PRESIGN_RATE_LIMIT = 60;

export interface CollectorOptions {
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** TCP port. Default 8787, and 0 picks a free port. */
  port?: number;
  /** Folder of stored reports, temporary uploads and the generated secret. Default `defaultStoreDir()`. */
  storeDir?: string;
  /** Largest report accepted, in bytes. Default 50 MiB. */
  maxSizeBytes?: number;
  /** Base of upload URLs when clients reach the collector through a proxy, such as `https://telemetry.example.org`. */
  publicUrl?: string;
  /** Key that signs upload tokens, at least 32 bytes. Takes precedence over `secretFile`. */
  secret?: Buffer;
  /** File holding the key that signs upload tokens. Default: generated in the store dir at first start. */
  secretFile?: string;
  /** Lifetime of an upload URL, in seconds. Default 900. */
  tokenTtlSeconds?: number;
  /** Presign requests allowed per client IP per minute. Default 60. */
  presignRateLimit?: number;
  logger: Logger;
}

/** CollectorOptions with every default applied and every value checked. */
export interface ResolvedCollectorOptions {
  host: string;
  port: number;
  storeDir: string;
  maxSizeBytes: number;
  /** Without the trailing slash. */
  publicUrl: string | undefined;
  secret: Buffer | undefined;
  secretFile: string | undefined;
  tokenTtlSeconds: number;
  presignRateLimit: number;
  logger: Logger;
}

/** Applies defaults and throws a UsageError naming the first option that cannot be used. */
export function resolveCollectorOptions(options: CollectorOptions): ResolvedCollectorOptions {
  const host = options.host ?? DEFAULT_HOST;
  if (host === '') {
    throw new UsageError('ERR_INVALID_OPTION', 'invalid host "": expected an address such as 127.0.0.1 or ::1');
  }
  if (options.secret !== undefined && options.secret.length < MIN_SECRET_BYTES) {
    throw new UsageError('ERR_SECRET_TOO_SHORT', `invalid secret: ${options.secret.length} bytes, expected at least ${MIN_SECRET_BYTES}`);
  }

  return {
    host,
    port: checkPort(options.port ?? DEFAULT_PORT, 'port'),
    storeDir: options.storeDir ?? defaultStoreDir(),
    maxSizeBytes: checkIntegerInRange(options.maxSizeBytes ?? DEFAULT_MAX_SIZE_BYTES, 'maxSizeBytes', 1, Number.MAX_SAFE_INTEGER, 'bytes'),
    publicUrl: options.publicUrl === undefined ? undefined : checkPublicUrl(options.publicUrl, 'publicUrl'),
    secret: options.secret,
    secretFile: options.secretFile,
    tokenTtlSeconds: checkIntegerInRange(options.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS, 'tokenTtlSeconds', 1, MAX_TOKEN_TTL_SECONDS, 'seconds'),
    presignRateLimit: checkIntegerInRange(options.presignRateLimit ?? DEFAULT_PRESIGN_RATE_LIMIT, 'presignRateLimit', 1, 1_000_000, 'requests per minute'),
    logger: options.logger,
  };
}

/** Returns `value` when it is a TCP port number (0 to 65535), else throws a UsageError naming `name`. */
export function checkPort(value: unknown, name: string): number {
  return checkIntegerInRange(value, name, 0, 65535, '(0 picks a free port)');
}

/** Returns `value` when it is an integer from `min` to `max`, else throws a UsageError naming `name` and the range. */
export function checkIntegerInRange(value: unknown, name: string, min: number, max: number, unit: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new UsageError('ERR_INVALID_OPTION', `invalid ${name} ${describeValue(value)}: expected an integer from ${min} to ${max} ${unit}`);
  }
  return value;
}

/**
 * Returns the base URL without its trailing slash when it is an http or https URL with
 * no credentials, query or fragment (upload paths are appended to it), else throws.
 */
export function checkPublicUrl(value: unknown, name: string): string {
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  const usable =
    url !== undefined &&
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    url.username === '' &&
    url.password === '' &&
    url.search === '' &&
    url.hash === '';
  if (!usable) {
    throw new UsageError(
      'ERR_INVALID_OPTION',
      `invalid ${name} ${describeValue(value)}: expected an http:// or https:// URL without credentials, query or fragment, such as https://telemetry.example.org`,
    );
  }
  return String(value).replace(/\/+$/, '');
}

function describeValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
