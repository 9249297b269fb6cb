import path from 'node:path';

import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';

import { UsageError } from '../../errors.js';
import { ExoNode } from '../../node/node.js';
import { loadInstancesFile } from '../../node/instances.js';
import { defaultLogDir, NODE_LOG_FILE, prepareLogDir } from '../../node/log-dir.js';
import { closeLogger } from '../../log/logger.js';
import { DEFAULT_RESTART_POLICY } from '../../supervision/restart-policy.js';
import { resolveApiUrl } from '../../telemetry/api-url.js';
import {
  DEFAULT_CHANNEL_CAPACITY,
  DEFAULT_DRAIN_TIMEOUT_SECONDS,
  DEFAULT_MAX_ATTEMPTS_PER_REPORT,
  DEFAULT_RUNNER_LOG_KEEP,
  DEFAULT_TELEMETRY_TIMEOUT_SECONDS,
  doNotTrack,
  type TelemetryConfig,
} from '../../telemetry/config.js';
import { loggerFor, verbosityOf, type GlobalArgs } from '../global-options.js';
import { checkNumberOption } from '../numbers.js';

export interface NodeArgs extends GlobalArgs {
  instances: string;
  logDir: string | undefined;
  runnerStopGrace: number;
  telemetry: boolean;
  telemetryApiUrl: string | undefined;
  telemetryChannelCapacity: number;
  telemetryTimeout: number;
  telemetryDrainTimeout: number;
  telemetryRedact: boolean;
  telemetryMaxAttempts: number;
  runnerLogKeep: number;
}

const DEFAULT_STOP_GRACE_SECONDS = 10;

function builder(argv: Argv): Argv<NodeArgs> {
  return argv
    .option('instances', {
      type: 'string',
      demandOption: 'pass --instances FILE, a JSON file of the instances to run',
      describe: 'JSON file of the instances and runners to supervise (format in the README)',
    })
    .option('log-dir', {
      type: 'string',
      describe: 'Folder for runner stderr logs, the node log exo.log and the telemetry outbox [default: $EXO_HOME, else $XDG_CACHE_HOME/exo/exo_log on Linux (~/.cache/exo/exo_log), else ~/.exo/exo_log]',
    })
    .option('runner-stop-grace', {
      type: 'number',
      default: DEFAULT_STOP_GRACE_SECONDS,
      describe: 'Seconds a runner gets after SIGTERM before SIGKILL',
    })
    .option('telemetry', {
      type: 'boolean',
      default: false,
      describe: 'Upload each runner stderr log after the runner ends. Without it, telemetry only logs what it would send (dry run). DO_NOT_TRACK=1 keeps the dry run.',
    })
    .option('telemetry-api-url', {
      type: 'string',
      describe: 'Telemetry API base URL; https, or http to a loopback host only [default: $EXO_TELEMETRY_API_URL, else https://telemetry.exolabs.net/]',
    })
    .option('telemetry-channel-capacity', {
      type: 'number',
      default: DEFAULT_CHANNEL_CAPACITY,
      describe: 'Submissions (records) the channel to the uploader thread holds, 1 to 65536; when full, new ones are dropped and counted',
    })
    .option('telemetry-timeout', {
      type: 'number',
      default: DEFAULT_TELEMETRY_TIMEOUT_SECONDS,
      describe: 'Seconds each telemetry HTTP request may take',
    })
    .option('telemetry-drain-timeout', {
      type: 'number',
      default: DEFAULT_DRAIN_TIMEOUT_SECONDS,
      describe: 'Seconds shutdown gives pending uploads; what is left stays in the outbox for the next start',
    })
    .option('telemetry-redact', {
      type: 'boolean',
      default: true,
      describe: 'Redact secrets, home paths, e-mail and IP addresses, the user name and host name before upload (--no-telemetry-redact turns it off)',
    })
    .option('telemetry-max-attempts', {
      type: 'number',
      default: DEFAULT_MAX_ATTEMPTS_PER_REPORT,
      describe: 'Upload attempts per report in one run of the node; a report past it stays pending for the next start',
    })
    .option('runner-log-keep', {
      type: 'number',
      default: DEFAULT_RUNNER_LOG_KEEP,
      describe: 'Stderr logs kept per runner; older ones are deleted, except those whose report is not delivered yet',
    }) as unknown as Argv<NodeArgs>;
}

/** Resolves and checks every telemetry flag before anything starts, so a bad value exits 2 with nothing sent. */
export function telemetryConfigFrom(args: NodeArgs, env: NodeJS.ProcessEnv): TelemetryConfig {
  const optedIn = args.telemetry && !doNotTrack(env);
  return {
    mode: optedIn ? 'upload' : 'dry-run',
    apiUrl: resolveApiUrl(args.telemetryApiUrl, env),
    channelCapacity: checkNumberOption('telemetry-channel-capacity', args.telemetryChannelCapacity, { min: 1, max: 65536, integer: true, unit: 'records' }),
    timeoutMs: checkNumberOption('telemetry-timeout', args.telemetryTimeout, { min: 0.1, max: 3600, unit: 'seconds' }) * 1000,
    drainTimeoutMs: checkNumberOption('telemetry-drain-timeout', args.telemetryDrainTimeout, { min: 0, max: 3600, unit: 'seconds' }) * 1000,
    redact: args.telemetryRedact,
    maxAttemptsPerReport: checkNumberOption('telemetry-max-attempts', args.telemetryMaxAttempts, { min: 1, max: 1000, integer: true }),
    runnerLogKeep: checkNumberOption('runner-log-keep', args.runnerLogKeep, { min: 1, max: 100000, integer: true, unit: 'logs' }),
  };
}

async function handler(args: ArgumentsCamelCase<NodeArgs>): Promise<void> {
  // Installed first: a signal while the node is still loading ends it cleanly, since nothing runs yet.
  let node: ExoNode | undefined;
  let stopped: (() => void) | undefined;
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (node === undefined) process.exit(0);
    if (signals > 1 && signal === 'SIGINT') {
      // A second Ctrl-C means now: runners get SIGKILL without grace and uploads are left to the outbox.
      process.stderr.write('second SIGINT: killing runners and exiting at once\n');
      node.killRunnersNow();
      process.exit(130);
    }
    if (signals > 1) {
      process.stderr.write(`received ${signal} again: still stopping; send SIGINT twice to exit at once\n`);
      return;
    }
    node.shutdown(`received ${signal}`).then(stopped, stopped);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  if (args.instances.trim() === '') {
    throw new UsageError('ERR_INVALID_OPTION', 'missing value of --instances: pass a JSON file of the instances to run');
  }
  const stopGraceMs = checkNumberOption('runner-stop-grace', args.runnerStopGrace, { min: 0, max: 3600, unit: 'seconds' }) * 1000;
  const telemetry = telemetryConfigFrom(args, process.env);
  const instances = await loadInstancesFile(args.instances);
  const logDir = await prepareLogDir(args.logDir ?? defaultLogDir());
  const logFile = path.join(logDir, NODE_LOG_FILE);
  const logger = loggerFor(args, logFile);

  if (args.telemetry && telemetry.mode === 'dry-run') {
    logger.info('DO_NOT_TRACK is set: telemetry stays in dry run and uploads nothing despite --telemetry');
  }
  if (!telemetry.redact && telemetry.mode === 'upload') {
    logger.warn('telemetry redaction is off (--no-telemetry-redact): logs are uploaded with secrets, paths and addresses as they are');
  }

  const created = await ExoNode.create({
    instances,
    logDir,
    stopGraceMs,
    restartPolicy: DEFAULT_RESTART_POLICY,
    telemetry,
    logger,
    logging: { verbosity: verbosityOf(args), format: args.logFormat, file: logFile },
  });
  await new Promise<void>((resolve) => {
    stopped = resolve;
    node = created;
    created.start();
  });
  await closeLogger(logger);
}

export const nodeCommand: CommandModule<GlobalArgs, NodeArgs> = {
  command: '$0',
  describe: 'Start a node: supervise the runners of --instances and report each runner end to telemetry',
  builder: builder as unknown as CommandModule<GlobalArgs, NodeArgs>['builder'],
  handler,
};
