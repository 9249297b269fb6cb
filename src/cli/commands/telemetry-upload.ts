import path from 'node:path';

import cliProgress from 'cli-progress';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';

import { UsageError } from '../../errors.js';
import { resolveApiUrl } from '../../telemetry/api-url.js';
import { DEFAULT_TELEMETRY_TIMEOUT_SECONDS, doNotTrack } from '../../telemetry/config.js';
import { uploadPending, type UploadProgress } from '../../telemetry/upload/upload-pending.js';
import { loggerFor, type GlobalArgs } from '../global-options.js';
import { logDirFrom, withLogDirOption, type LogDirArgs } from '../log-dir-option.js';
import { checkNumberOption } from '../numbers.js';

interface UploadArgs extends GlobalArgs, LogDirArgs {
  all: boolean;
  paths: string[];
  telemetryApiUrl: string | undefined;
  telemetryTimeout: number;
  telemetryRedact: boolean;
}

async function handler(args: ArgumentsCamelCase<UploadArgs>): Promise<void> {
  if (args.all === (args.paths.length > 0)) {
    throw new UsageError('ERR_INVALID_OPTION', 'name the reports to send: pass --all, or one or more log paths, not both');
  }
  if (doNotTrack(process.env)) {
    throw new UsageError('ERR_DO_NOT_TRACK', 'DO_NOT_TRACK is set, so nothing is uploaded; unset it to send reports');
  }
  const apiUrl = resolveApiUrl(args.telemetryApiUrl, process.env);
  const timeoutMs = checkNumberOption('telemetry-timeout', args.telemetryTimeout, { min: 0.1, max: 3600, unit: 'seconds' }) * 1000;
  const logDir = logDirFrom(args);
  const logger = loggerFor(args);
  if (!args.telemetryRedact) logger.warn('telemetry redaction is off (--no-telemetry-redact): logs are uploaded as they are');

  // A bar on a terminal; a line per report otherwise, so logs of scripted runs stay readable.
  const bar = process.stderr.isTTY ? new cliProgress.SingleBar({ stream: process.stderr, format: 'uploading [{bar}] {value}/{total} reports  {last}' }, cliProgress.Presets.shades_classic) : undefined;
  let started = false;
  const onProgress = (progress: UploadProgress) => {
    if (bar === undefined) {
      process.stderr.write(`[${progress.done}/${progress.total}] ${progress.id}: ${progress.outcome}\n`);
      return;
    }
    if (!started) {
      bar.start(progress.total, 0, { last: '' });
      started = true;
    }
    bar.update(progress.done, { last: `${progress.id}: ${progress.outcome}` });
  };

  const targets = args.all ? 'all' : args.paths.map((target) => path.resolve(target));
  const results = await uploadPending({ logDir, apiUrl, mode: 'upload', redact: args.telemetryRedact, timeoutMs }, targets, logger, onProgress);
  bar?.stop();

  const delivered = results.filter((result) => result.outcome === 'delivered').length;
  const left = results.filter((result) => result.outcome === 'pending').length;
  process.stdout.write(`${delivered} of ${results.length} reports delivered${left > 0 ? `, ${left} still pending` : ''}\n`);
  for (const result of results) {
    if (result.outcome !== 'delivered') process.stdout.write(`  ${result.id}: ${result.outcome}\n`);
  }
  if (left > 0 || results.some((result) => result.outcome === 'not-found')) process.exitCode = 1;
}

export const uploadCommand: CommandModule<GlobalArgs, UploadArgs> = {
  command: 'upload [paths..]',
  describe: 'Send pending reports now, with a progress bar. Run it while no node uses the same log dir.',
  builder: (argv: Argv<GlobalArgs>) =>
    withLogDirOption(argv)
      .positional('paths', { type: 'string', array: true, default: [], describe: 'Stderr logs under <log dir>/runner_log to send' })
      .option('all', { type: 'boolean', default: false, describe: 'Send every pending report of the outbox. Reports of a run without --telemetry (dry-run) are sent only when named by path' })
      .option('telemetry-api-url', {
        type: 'string',
        describe: 'Telemetry API base URL; https, or http to a loopback host only [default: $EXO_TELEMETRY_API_URL, else https://telemetry.exolabs.net/]',
      })
      .option('telemetry-timeout', { type: 'number', default: DEFAULT_TELEMETRY_TIMEOUT_SECONDS, describe: 'Seconds each HTTP request may take' })
      .option('telemetry-redact', { type: 'boolean', default: true, describe: 'Redact before upload (--no-telemetry-redact turns it off)' }) as unknown as Argv<UploadArgs>,
  handler,
};
