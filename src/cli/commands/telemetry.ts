import type { Argv, CommandModule } from 'yargs';

import type { GlobalArgs } from '../global-options.js';
import { listCommand } from './telemetry-list.js';
import { serveCommand } from './telemetry-serve.js';
import { showCommand } from './telemetry-show.js';
import { statusCommand } from './telemetry-status.js';
import { uploadCommand } from './telemetry-upload.js';

/** `exo telemetry <command>`: the collector, and the operator's view of what telemetry stores and sends. */
export const telemetryCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'telemetry <command>',
  describe: 'Run the reference collector, or inspect and send crash reports',
  builder: (argv: Argv<GlobalArgs>) =>
    argv
      .command(serveCommand as unknown as CommandModule<GlobalArgs, GlobalArgs>)
      .command(listCommand as unknown as CommandModule<GlobalArgs, GlobalArgs>)
      .command(showCommand as unknown as CommandModule<GlobalArgs, GlobalArgs>)
      .command(uploadCommand as unknown as CommandModule<GlobalArgs, GlobalArgs>)
      .command(statusCommand as unknown as CommandModule<GlobalArgs, GlobalArgs>)
      .demandCommand(1, 'name a telemetry command, such as "exo telemetry serve"'),
  handler: () => undefined,
};
