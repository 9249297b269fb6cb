import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';

import { checkPublicUrl, DEFAULT_HOST, DEFAULT_MAX_SIZE_BYTES, DEFAULT_PORT, DEFAULT_PRESIGN_RATE_LIMIT, DEFAULT_TOKEN_TTL_SECONDS, MAX_TOKEN_TTL_SECONDS, type CollectorOptions } from '../../collector/options.js';
import { startCollector } from '../../collector/server.js';
import { defaultStoreDir } from '../../collector/store-dir.js';
import { UsageError } from '../../errors.js';
import { closeLogger, type Logger } from '../../log/logger.js';
import { loggerFor, type GlobalArgs } from '../global-options.js';
import { checkNumberOption } from '../numbers.js';

export interface ServeArgs extends GlobalArgs {
  host: string;
  port: number;
  store: string | undefined;
  maxSize: number;
  publicUrl: string | undefined;
  secretFile: string | undefined;
  tokenTtl: number;
  presignRateLimit: number;
}

function builder(argv: Argv): Argv<ServeArgs> {
  return argv
    .option('host', {
      type: 'string',
      default: DEFAULT_HOST,
      describe: 'Address to listen on; 0.0.0.0 or :: for every interface (then also set --public-url)',
    })
    .option('port', {
      type: 'number',
      default: DEFAULT_PORT,
      describe: 'TCP port to listen on, 0 to 65535; 0 picks a free port',
    })
    .option('store', {
      type: 'string',
      describe: 'Folder of stored reports, partial uploads and the generated token secret [default: $EXO_HOME/telemetry_store, else $XDG_DATA_HOME/exo/telemetry_store on Linux (~/.local/share/exo/telemetry_store), else ~/.exo/telemetry_store]',
    })
    .option('max-size', {
      type: 'number',
      default: DEFAULT_MAX_SIZE_BYTES,
      describe: 'Largest report accepted, in bytes (default 50 MiB)',
    })
    .option('public-url', {
      type: 'string',
      describe: 'http or https base URL that clients reach this collector at, used in upload URLs when behind a proxy [default: http://HOST:PORT]',
    })
    .option('secret-file', {
      type: 'string',
      describe: 'File of at least 32 bytes that signs upload URLs [default: generated at first start as upload-token.secret in the store, mode 0600]',
    })
    .option('token-ttl', {
      type: 'number',
      default: DEFAULT_TOKEN_TTL_SECONDS,
      describe: `Seconds an upload URL stays valid, 1 to ${MAX_TOKEN_TTL_SECONDS}`,
    })
    .option('presign-rate-limit', {
      type: 'number',
      default: DEFAULT_PRESIGN_RATE_LIMIT,
      describe: 'Presign requests allowed per client IP per minute; more get 429 with Retry-After',
    }) as unknown as Argv<ServeArgs>;
}

/** Checks every flag and returns the collector options, throwing a UsageError (exit 2) for the first bad one. */
export function collectorOptionsFrom(args: ServeArgs, logger: Logger): CollectorOptions {
  if (args.host === '') {
    throw new UsageError('ERR_INVALID_OPTION', 'invalid --host "": expected an address such as 127.0.0.1, or 0.0.0.0 for every interface');
  }
  return {
    host: args.host,
    port: checkNumberOption('port', args.port, { min: 0, max: 65535, integer: true }),
    storeDir: args.store ?? defaultStoreDir(),
    maxSizeBytes: checkNumberOption('max-size', args.maxSize, { min: 1, max: Number.MAX_SAFE_INTEGER, integer: true, unit: 'bytes' }),
    publicUrl: args.publicUrl === undefined ? undefined : checkPublicUrl(args.publicUrl, '--public-url'),
    secretFile: args.secretFile,
    tokenTtlSeconds: checkNumberOption('token-ttl', args.tokenTtl, { min: 1, max: MAX_TOKEN_TTL_SECONDS, integer: true, unit: 'seconds' }),
    presignRateLimit: checkNumberOption('presign-rate-limit', args.presignRateLimit, { min: 1, max: 1_000_000, integer: true, unit: 'requests per minute' }),
    logger,
  };
}

/**
 * Runs the collector until SIGINT or SIGTERM (or `stop` aborts), then closes it.
 * A second SIGINT exits at once with status 130.
 */
export async function runServe(args: ServeArgs, logger: Logger, stop?: AbortSignal): Promise<void> {
  const collector = await startCollector(collectorOptionsFrom(args, logger));

  let stopping = false;
  let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
  let onAbort: (() => void) | undefined;
  try {
    const reason = await new Promise<string>((resolve) => {
      onSignal = (signal) => {
        if (stopping && signal === 'SIGINT') {
          process.stderr.write('second SIGINT: exiting at once\n');
          process.exit(130);
        }
        stopping = true;
        resolve(`received ${signal}`);
      };
      onAbort = () => resolve('stop requested');
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      if (stop?.aborted === true) onAbort();
      stop?.addEventListener('abort', onAbort, { once: true });
    });
    logger.info('stopping collector', { reason });
    await collector.close();
  } finally {
    // Listeners stay until close ends, so a second SIGINT during close still exits at once.
    if (onSignal !== undefined) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (onAbort !== undefined) stop?.removeEventListener('abort', onAbort);
  }
}

async function handler(args: ArgumentsCamelCase<ServeArgs>): Promise<void> {
  const logger = loggerFor(args);
  try {
    await runServe(args, logger);
  } finally {
    await closeLogger(logger);
  }
}

export const serveCommand: CommandModule<GlobalArgs, ServeArgs> = {
  command: 'serve',
  describe: 'Run the reference collector: receive crash reports over HTTP and store each distinct log once',
  builder: builder as unknown as CommandModule<GlobalArgs, ServeArgs>['builder'],
  handler,
};
