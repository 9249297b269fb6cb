import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';

import { readLastRunStats } from '../../telemetry/outbox/run-stats.js';
import type { GlobalArgs } from '../global-options.js';
import { logDirFrom, withLogDirOption, type LogDirArgs } from '../log-dir-option.js';

interface StatusArgs extends GlobalArgs, LogDirArgs {
  json: boolean;
}

async function handler(args: ArgumentsCamelCase<StatusArgs>): Promise<void> {
  const logDir = logDirFrom(args);
  const stats = await readLastRunStats(logDir);
  if (stats === undefined) {
    process.stdout.write(`no telemetry run recorded in ${logDir} yet\n`);
    return;
  }
  if (args.json) {
    process.stdout.write(`${JSON.stringify(stats, null, 2)}\n`);
    return;
  }
  const rows: Array<[string, string]> = [
    ['mode', stats.mode],
    ['started', new Date(stats.startedAtMs).toISOString()],
    ['counters written', new Date(stats.writtenAtMs).toISOString()],
    ['received', String(stats.received)],
    ['sent', String(stats.sent)],
    ['dropped', String(stats.dropped)],
    ['failed attempts', String(stats.failed)],
    ['retried', String(stats.retried)],
    ['rejected', String(stats.rejected)],
    ['bytes sent', String(stats.bytesSent)],
    ['pending', String(stats.pending)],
  ];
  process.stdout.write(`last telemetry run of ${logDir}\n`);
  for (const [name, value] of rows) process.stdout.write(`  ${name.padEnd(17)} ${value}\n`);
}

export const statusCommand: CommandModule<GlobalArgs, StatusArgs> = {
  command: 'status',
  describe: 'Print the telemetry counters of the last run of the node: sent, dropped, failed, retried, bytes',
  builder: (argv: Argv<GlobalArgs>) =>
    withLogDirOption(argv).option('json', { type: 'boolean', default: false, describe: 'Print JSON' }) as unknown as Argv<StatusArgs>,
  handler,
};
