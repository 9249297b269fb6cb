import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';

import { UsageError } from '../../errors.js';
import { preparePayload } from '../../telemetry/upload/prepare-payload.js';
import type { GlobalArgs } from '../global-options.js';
import { logDirFrom, withLogDirOption, type LogDirArgs } from '../log-dir-option.js';

interface ShowArgs extends GlobalArgs, LogDirArgs {
  path: string;
  redact: boolean;
  metadataOnly: boolean;
}

async function handler(args: ArgumentsCamelCase<ShowArgs>): Promise<void> {
  const logDir = logDirFrom(args);
  const logPath = path.resolve(args.path);
  const prepared = await preparePayload(logPath, { logDir, redact: args.redact }).catch((error: unknown) => {
    throw new UsageError('ERR_CANNOT_SHOW', `cannot show ${logPath}: ${(error as Error).message}`, { cause: error });
  });
  try {
    // The header goes to stderr and the payload to stdout, so `> file` captures exactly the bytes that would be sent.
    process.stderr.write(
      `report ${prepared.reportId}: ${prepared.size} bytes, sha256 ${prepared.sha256}${args.redact ? '' : ' (redaction off)'}\n` +
        `metadata ${JSON.stringify(prepared.metadata)}\n`,
    );
    if (!args.metadataOnly) {
      await pipeline(fs.createReadStream(prepared.file), process.stdout, { end: false });
    }
  } finally {
    await prepared.dispose();
  }
}

export const showCommand: CommandModule<GlobalArgs, ShowArgs> = {
  command: 'show <path>',
  describe: 'Print exactly the bytes an upload of a runner log would send (after redaction) on stdout, and its size, SHA-256 and metadata on stderr. Sends nothing.',
  builder: (argv: Argv<GlobalArgs>) =>
    withLogDirOption(argv)
      .positional('path', { type: 'string', demandOption: true, describe: 'A stderr log under <log dir>/runner_log' })
      .option('redact', { type: 'boolean', default: true, describe: 'Apply redaction as the node does (--no-redact shows the bytes sent with --no-telemetry-redact)' })
      .option('metadata-only', { type: 'boolean', default: false, describe: 'Print only the size, SHA-256 and metadata' }) as unknown as Argv<ShowArgs>,
  handler,
};
