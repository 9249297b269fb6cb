/**
 * The main job, end to end on one machine: a collector on 127.0.0.1 with a
 * temporary store, a node run with `--telemetry` against it on the instances in
 * examples/, and a summary of which runner ended, why, and which report key stores
 * its log. Nothing leaves the machine. `--keep` keeps the temporary folder.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startCollector } from '../src/collector/server.js';
import type { StoredReport } from '../src/collector/report-index.js';
import { createLogger } from '../src/log/logger.js';
import { doNotTrack } from '../src/telemetry/config.js';

const scriptDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(scriptDir, '..', '..');
const cliPath = path.join(scriptDir, '..', 'src', 'cli', 'main.js');
const examplesDir = path.join(repoRoot, 'examples');

/** How long the demo waits for the crash reports before it gives up. */
const REPORT_WAIT_MS = 60_000;

/** Lines of the demo runner's stderr that redaction must remove before upload. */
const SECRETS_IN_DEMO = ['/home/alice', 'hf_DemoTokenNotRealAbCdEfGhIjKlMnOpQrStUv', 'alice@example.com', '192.0.2.17'];

interface Expected {
  instanceId: string;
  /** Reports expected from this instance: uploads, of which identical ones are stored once. */
  uploads: number;
}

function hasPython(): boolean {
  const probe = spawnSync('python3', ['--version'], { stdio: 'ignore' });
  return probe.status === 0;
}

/** Writes the instances file the node runs: examples/instances.json, minus the Python runners where python3 is missing. */
async function writeInstances(workDir: string, python: boolean): Promise<{ file: string; expected: Expected[] }> {
  const document = JSON.parse(await fs.readFile(path.join(examplesDir, 'instances.json'), 'utf8')) as {
    instances: Array<{ instanceId: string; maxRetries: number; runners: Array<{ runnerId: string; command: string[]; cwd: string }> }>;
  };
  for (const instance of document.instances) {
    for (const runner of instance.runners) {
      runner.cwd = path.join(examplesDir, runner.cwd);
      if (runner.command[0] === 'node') runner.command[0] = process.execPath;
    }
  }
  if (!python) {
    process.stdout.write('python3 not found: the Python traceback runner is left out and the segfault runner is a Node.js script\n');
    document.instances = document.instances.filter((instance) => instance.instanceId !== 'llama-1b');
    const segfault = document.instances.find((instance) => instance.instanceId === 'qwen-7b');
    if (segfault !== undefined) segfault.runners[0]!.command = [process.execPath, 'segfault.mjs'];
  }
  const file = path.join(workDir, 'instances.json');
  await fs.writeFile(file, JSON.stringify(document, null, 2));
  const expected = document.instances
    .filter((instance) => instance.instanceId !== 'embed-small')
    .map((instance) => ({ instanceId: instance.instanceId, uploads: instance.maxRetries + 1 }));
  return { file, expected };
}

async function listReports(url: string): Promise<StoredReport[]> {
  const response = await fetch(`${url}/telemetry/runner-log?limit=100`);
  const page = (await response.json()) as { reports: StoredReport[] };
  return page.reports;
}

/** True once every expected upload arrived, counting repeats of identical bytes. */
function allArrived(reports: StoredReport[], expected: Expected[]): boolean {
  return expected.every(({ instanceId, uploads }) => {
    const mine = reports.filter((report) => report.metadata?.instanceId === instanceId);
    const received = mine.reduce((sum, report) => sum + 1 + report.repeatCount, 0);
    return received >= uploads;
  });
}

interface RunnerEndLine {
  instanceId: string;
  runnerId: string;
  message: string;
}

/** Reads the runner ends from the node log (JSON lines). */
async function readRunnerEnds(logDir: string): Promise<RunnerEndLine[]> {
  const text = await fs.readFile(path.join(logDir, 'exo.log'), 'utf8');
  const ends: RunnerEndLine[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const entry = JSON.parse(line) as { message: string; instanceId?: string; runnerId?: string };
    if (entry.instanceId === undefined || entry.runnerId === undefined) continue;
    if (entry.message === 'runner exited cleanly' || / ended: /.test(entry.message)) {
      ends.push({ instanceId: entry.instanceId, runnerId: entry.runnerId, message: entry.message });
    }
  }
  return ends;
}

function printSummary(ends: RunnerEndLine[], reports: StoredReport[]): void {
  process.stdout.write('\nSummary\n');
  const seen = new Set<string>();
  for (const end of ends) {
    const id = `${end.instanceId}/${end.runnerId}`;
    const count = ends.filter((other) => other.instanceId === end.instanceId && other.runnerId === end.runnerId).length;
    if (seen.has(id)) continue;
    seen.add(id);
    const cause = end.message === 'runner exited cleanly' ? 'exit code 0 (clean end, empty log: nothing uploaded)' : end.message.replace(/^runner \S+ ended: /, '');
    const stored = reports.filter((report) => report.metadata?.instanceId === end.instanceId && report.metadata?.runnerId === end.runnerId);
    process.stdout.write(`- ${id}: ended ${count} time${count === 1 ? '' : 's'}, ${cause}\n`);
    for (const report of stored) {
      const copies = report.repeatCount > 0 ? `, ${report.repeatCount + 1} identical uploads stored once` : '';
      process.stdout.write(`    report ${report.key} (${report.size} bytes${copies})\n`);
    }
  }
}

/** Checks that the stored copy of the Python runner's log lost its secrets and kept its crash line. */
async function checkRedaction(storeDir: string, reports: StoredReport[], logDir: string): Promise<void> {
  const report = reports.find((candidate) => candidate.metadata?.instanceId === 'llama-1b');
  if (report === undefined) return;
  const stored = await fs.readFile(path.join(storeDir, report.key), 'utf8');
  const localFolder = path.join(logDir, 'runner_log', 'llama-1b', 'r0');
  const [firstLog] = (await fs.readdir(localFolder)).sort();
  const local = await fs.readFile(path.join(localFolder, firstLog!), 'utf8');
  const leaked = SECRETS_IN_DEMO.filter((secret) => stored.includes(secret));
  const keptLocally = SECRETS_IN_DEMO.filter((secret) => local.includes(secret));
  const crashLine = stored.split('\n').find((line) => line.startsWith('ModuleNotFoundError'));
  process.stdout.write('\nRedaction of llama-1b/r0\n');
  process.stdout.write(`- secrets in the stored report: ${leaked.length === 0 ? 'none' : leaked.join(', ')}\n`);
  process.stdout.write(`- secrets still in the local log: ${keptLocally.length} of ${SECRETS_IN_DEMO.length}\n`);
  process.stdout.write(`- crash line in the stored report: ${crashLine ?? 'missing'}\n`);
  if (leaked.length > 0 || crashLine === undefined) process.exitCode = 1;
}

async function main(): Promise<void> {
  if (doNotTrack(process.env)) {
    // The demo only talks to its own collector on 127.0.0.1, but the node honours the variable all the same.
    process.stderr.write('DO_NOT_TRACK is set, so the node would stay in dry run and the demo would receive nothing; unset it to run the demo\n');
    process.exitCode = 2;
    return;
  }
  const keep = process.argv.includes('--keep');
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'exo-demo-'));
  const storeDir = path.join(workDir, 'store');
  const logDir = path.join(workDir, 'logs');
  const logger = createLogger({ verbosity: 0, format: 'human', defaultMeta: { part: 'collector' } });

  const collector = await startCollector({ host: '127.0.0.1', port: 0, storeDir, logger });
  const { file, expected } = await writeInstances(workDir, hasPython());
  process.stdout.write(`collector at ${collector.url}, store ${storeDir}\nstarting exo --telemetry, logs in ${logDir}\n`);

  const node = spawn(
    process.execPath,
    // --quiet keeps the node's console to runner ends and errors; exo.log in the log dir has every line.
    [cliPath, '--quiet', '--instances', file, '--log-dir', logDir, '--telemetry', '--telemetry-api-url', collector.url, '--runner-stop-grace', '2'],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const nodeExit = new Promise<number | null>((resolve) => node.on('close', (code) => resolve(code)));

  const startedAt = Date.now();
  let reports = await listReports(collector.url);
  while (!allArrived(reports, expected) && Date.now() - startedAt < REPORT_WAIT_MS && node.exitCode === null) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    reports = await listReports(collector.url);
  }
  const arrived = allArrived(reports, expected);
  if (!arrived) process.stdout.write(`not every report arrived within ${REPORT_WAIT_MS / 1000} s\n`);

  node.kill('SIGTERM');
  const code = await nodeExit;
  process.stdout.write(`node exited with status ${code}\n`);
  await collector.close();

  printSummary(await readRunnerEnds(logDir), reports);
  await checkRedaction(storeDir, reports, logDir);
  if (!arrived || code !== 0) process.exitCode = 1;

  if (keep) {
    process.stdout.write(`\nkept ${workDir}\n`);
  } else {
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

await main();
