import fs from 'node:fs/promises';

import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';

import { causeFromDiagnostics } from '../../diagnostics/cause.js';
import { classifyLog } from '../../diagnostics/classifier.js';
import type { Diagnostic, StderrReport } from '../../diagnostics/types.js';
import { describeError, errorCode } from '../../errors.js';

export interface DiagnoseArgs {
  json: boolean;
  files: string[];
}

/** The output of `exo diagnose --json` for each file it could read. */
export interface DiagnoseResult {
  path: string;
  diagnostics: Diagnostic[];
  /** The primary cause from the diagnostics alone, since a log does not record the exit status. */
  primaryCause: string;
  lastLines: string[];
  omittedDiagnostics?: number;
}

/** Output streams of the command. The CLI passes process.stdout and process.stderr. */
export interface DiagnoseOutput {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/**
 * Classifies each log and prints its diagnostics and primary cause. A file that
 * cannot be read gets a message and is skipped. Returns the exit status: 1 when
 * any file could not be read, else 0.
 */
export async function runDiagnose(files: string[], json: boolean, output: DiagnoseOutput): Promise<number> {
  const results: DiagnoseResult[] = [];
  let status = 0;
  for (const file of files) {
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(file);
    } catch (error) {
      output.stderr.write(`exo diagnose: cannot read ${file}: ${describeReadError(error)}; pass the path of a runner stderr log\n`);
      status = 1;
      continue;
    }

    const result = diagnoseResult(file, classifyLog(bytes));
    if (json) {
      results.push(result);
    } else {
      output.stdout.write(formatResult(result));
    }
  }

  if (json) output.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  return status;
}

function diagnoseResult(path: string, report: StderrReport): DiagnoseResult {
  const result: DiagnoseResult = {
    path,
    diagnostics: report.diagnostics,
    primaryCause: causeFromDiagnostics(report),
    lastLines: report.lastLines,
  };
  if (report.omittedDiagnostics !== undefined && report.omittedDiagnostics > 0) result.omittedDiagnostics = report.omittedDiagnostics;
  return result;
}

function describeReadError(error: unknown): string {
  switch (errorCode(error)) {
    case 'ENOENT':
      return 'file not found (ENOENT)';
    case 'EACCES':
      return 'permission denied (EACCES)';
    case 'EISDIR':
      return 'it is a directory (EISDIR)';
    default:
      return describeError(error);
  }
}

/** Formats one file's result for a person: the primary cause, then each diagnostic with its fields and evidence. */
export function formatResult(result: DiagnoseResult): string {
  const lines = [result.path, `  primary cause: ${result.primaryCause}`];
  if (result.diagnostics.length === 0) {
    lines.push('  no diagnostics found; last lines:');
    for (const line of result.lastLines) lines.push(`    | ${line}`);
  }
  for (const diagnostic of result.diagnostics) {
    const repeats = diagnostic.count > 1 ? ` (${diagnostic.count} times)` : '';
    lines.push(`  ${diagnostic.kind}: ${diagnostic.message}${repeats}`);
    const fields = Object.entries(diagnostic.fields).map(([key, value]) => `${key}=${formatFieldValue(value)}`);
    if (fields.length > 0) lines.push(`    ${fields.join(' ')}`);
    for (const evidence of diagnostic.evidence) lines.push(`    | ${evidence}`);
  }
  if (result.omittedDiagnostics !== undefined) lines.push(`  ${result.omittedDiagnostics} more diagnostics left out`);
  return `${lines.join('\n')}\n\n`;
}

function formatFieldValue(value: string | number | boolean): string {
  if (typeof value !== 'string') return String(value);
  return /^[\w./:@+-]+$/.test(value) ? value : JSON.stringify(value);
}

function builder(argv: Argv): Argv<DiagnoseArgs> {
  return argv
    .option('json', {
      type: 'boolean',
      default: false,
      describe: 'Print one JSON array with an object per file (path, diagnostics, primaryCause, lastLines) instead of text',
    })
    .positional('files', {
      type: 'string',
      array: true,
      describe: 'Runner stderr log files to classify, such as <log dir>/runner_log/<instance>/<runner>/<time>.stderr.log',
    }) as unknown as Argv<DiagnoseArgs>;
}

async function handler(args: ArgumentsCamelCase<DiagnoseArgs>): Promise<void> {
  const status = await runDiagnose(args.files, args.json, { stdout: process.stdout, stderr: process.stderr });
  if (status !== 0) process.exitCode = status;
}

/** `exo diagnose [--json] <files..>`: the diagnostics and primary cause found in old runner logs. */
export const diagnoseCommand: CommandModule<{}, DiagnoseArgs> = {
  command: 'diagnose [--json] <files..>',
  describe: 'Print the diagnostics and the primary cause found in runner stderr logs',
  builder: builder as unknown as CommandModule<{}, DiagnoseArgs>['builder'],
  handler,
};
