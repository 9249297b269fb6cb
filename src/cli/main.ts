#!/usr/bin/env node
/**
 * The `exo` command line. Each command lives in a module of its own under
 * commands/; this file wires them and owns the single error handler.
 */
import { createRequire } from 'node:module';

import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

import { describeError, UsageError } from '../errors.js';
import { diagnoseCommand } from './commands/diagnose.js';
import { nodeCommand } from './commands/node.js';
import { telemetryCommand } from './commands/telemetry.js';
import { withGlobalOptions } from './global-options.js';

const packageJson = createRequire(import.meta.url)('../../../package.json') as { version: string };

/** Exit status for invalid usage: bad flags, bad files, bad values. */
const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;

function reportFailure(error: unknown, verbose: boolean): never {
  const usage = error instanceof UsageError;
  process.stderr.write(`exo: ${usage ? (error as Error).message : describeError(error)}\n`);
  if (verbose && error instanceof Error && error.stack !== undefined) {
    process.stderr.write(`${error.stack}\n`);
  } else if (!usage) {
    process.stderr.write('exo: run again with --verbose to see the stack\n');
  }
  process.exit(usage ? EXIT_USAGE : EXIT_FAILURE);
}

async function main(argv: string[]): Promise<void> {
  const verbose = argv.includes('--verbose') || argv.some((arg) => /^-v+$/.test(arg));
  const cli = withGlobalOptions(yargs(argv))
    .scriptName('exo')
    .command(nodeCommand)
    .command(diagnoseCommand)
    .command(telemetryCommand)
    .strict()
    .version(packageJson.version)
    .help()
    .alias('help', 'h')
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .fail((message, error) => {
      if (error !== undefined && error !== null) throw error;
      // A yargs parse problem: unknown flag, missing value, missing command.
      process.stderr.write(`exo: ${message}\nexo: run "exo --help" for the options\n`);
      process.exit(EXIT_USAGE);
    });
  try {
    await cli.parseAsync();
  } catch (error) {
    reportFailure(error, verbose);
  }
}

await main(hideBin(process.argv));
