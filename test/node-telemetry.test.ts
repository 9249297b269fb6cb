import fs from 'node:fs/promises';
import path from 'node:path';

import { expect } from 'chai';

import { startCollector, type Collector } from '../src/collector/server.js';
import type { StoredReport } from '../src/collector/report-index.js';
import { openOutboxReader } from '../src/telemetry/outbox/outbox.js';
import { captureLogger } from './helpers/capture-logger.js';
import { eventually, runCli, startCli, type CliRun } from './helpers/cli.js';
import { runnersDir } from './helpers/paths.js';
import { closedPortUrl, RecordingServer } from './helpers/recording-server.js';
import { listFiles, makeTempDir } from './helpers/temp-dir.js';

const CRASH = Buffer.concat([Buffer.from('Traceback (most recent call last):\n  File "serve.py", line 3, in <module>\nRuntimeError: shard 2 lost\n'), Buffer.from([0xc3, 0x28])]);

function emitRunner(runnerId: string, stderr: Buffer, end: string) {
  return {
    runnerId,
    command: [process.execPath, path.join(runnersDir, 'emit.mjs')],
    env: { EMIT_STDERR_HEX: stderr.toString('hex'), EMIT_END: end },
  };
}

function sleepRunner(runnerId: string) {
  return { runnerId, command: [process.execPath, path.join(runnersDir, 'sleep.mjs')] };
}

/** Reads the report ids and states of the outbox, without opening it for writing. */
async function outboxStates(logDir: string): Promise<Record<string, string>> {
  const root = path.join(logDir, 'runner_log');
  const reader = openOutboxReader(logDir);
  const states: Record<string, string> = {};
  for (const file of await listFiles(root).catch(() => [])) {
    const id = file.split(path.sep).join('/');
    const entry = await reader.read(id);
    states[id] = entry?.state ?? 'none';
  }
  return states;
}

async function stopNode(run: CliRun): Promise<{ code: number | null; output: string; tookMs: number }> {
  const startedAt = Date.now();
  run.child.kill('SIGTERM');
  const { code, output } = await run.exited;
  return { code, output, tookMs: Date.now() - startedAt };
}

describe('node with telemetry', () => {
  let dir: string;
  let logDir: string;
  let remove: () => Promise<void>;
  let server: RecordingServer | undefined;
  let collector: Collector | undefined;
  let running: CliRun | undefined;

  async function writeInstances(instances: unknown[], name = 'instances.json'): Promise<string> {
    const file = path.join(dir, name);
    await fs.writeFile(file, JSON.stringify({ instances }));
    return file;
  }

  beforeEach(async () => {
    ({ dir, remove } = await makeTempDir());
    logDir = path.join(dir, 'logs');
  });

  afterEach(async () => {
    if (running !== undefined && running.child.exitCode === null) {
      running.child.kill('SIGKILL');
      await running.exited;
    }
    running = undefined;
    await server?.close();
    server = undefined;
    await collector?.close();
    collector = undefined;
    await remove();
  });

  it('makes the two contract requests per log', async () => {
    server = await RecordingServer.start();
    const instances = await writeInstances([
      { instanceId: 'llama-8b', maxRetries: 0, runners: [emitRunner('r0', CRASH, 'exit:1')] },
      { instanceId: 'clean', maxRetries: 0, runners: [emitRunner('r0', Buffer.alloc(0), 'exit:0')] },
    ]);
    running = startCli(['--instances', instances, '--log-dir', logDir, '--telemetry', '--no-telemetry-redact', '--telemetry-api-url', server.url]);
    await eventually(async () => Object.values(await outboxStates(logDir)).filter((state) => state === 'delivered' || state === 'skipped').length === 2, 20_000, 'both reports handled');
    const { code, output } = await stopNode(running);

    expect(code, output).to.equal(0);
    expect(server.presigns()).to.have.length(1);
    expect(server.puts()).to.have.length(1);
    const [logFile] = await listFiles(path.join(logDir, 'runner_log', 'llama-8b'));
    const bytes = await fs.readFile(path.join(logDir, 'runner_log', 'llama-8b', logFile!));
    expect(bytes).to.deep.equal(CRASH);
    expect(server.puts()[0]!.body).to.deep.equal(bytes);
    expect(server.presignBodies()[0]!.size).to.equal(bytes.length);
    expect(server.presignBodies()[0]!.metadata).to.include({ instanceId: 'llama-8b', runnerId: 'r0' });
    expect(server.requests).to.have.length(2);
  });

  it('sends nothing without --telemetry', async () => {
    server = await RecordingServer.start();
    const instances = await writeInstances([{ instanceId: 'llama-8b', maxRetries: 0, runners: [emitRunner('r0', CRASH, 'exit:1')] }]);
    running = startCli(['--instances', instances, '--log-dir', logDir, '--telemetry-api-url', server.url]);
    await eventually(async () => Object.values(await outboxStates(logDir)).includes('dry-run'), 20_000, 'dry-run report');
    const { code } = await stopNode(running);

    expect(code).to.equal(0);
    expect(server.connections).to.equal(0);
  });

  it('honours DO_NOT_TRACK', async () => {
    server = await RecordingServer.start();
    const instances = await writeInstances([{ instanceId: 'llama-8b', maxRetries: 0, runners: [emitRunner('r0', CRASH, 'exit:1')] }]);
    running = startCli(['--instances', instances, '--log-dir', logDir, '--telemetry', '--telemetry-api-url', server.url], { DO_NOT_TRACK: '1' });
    await eventually(async () => Object.values(await outboxStates(logDir)).includes('dry-run'), 20_000, 'dry-run report');
    const { code, output } = await stopNode(running);

    expect(code).to.equal(0);
    expect(server.connections).to.equal(0);
    expect(output).to.contain('DO_NOT_TRACK is set');
  });

  it('rejects plain http to another host', async () => {
    // The runner ends cleanly with an empty log, so even a broken check would send nothing anywhere.
    const instances = await writeInstances([{ instanceId: 'clean', maxRetries: 0, runners: [emitRunner('r0', Buffer.alloc(0), 'exit:0')] }]);
    const { code, output } = await runCli(['--instances', instances, '--log-dir', logDir, '--telemetry', '--telemetry-api-url', 'http://telemetry.example.com']);

    expect(code).to.equal(2);
    expect(output).to.contain('http://telemetry.example.com');
    expect(output).to.contain('https');
  });

  it('stores identical crashes once', async () => {
    const { logger } = captureLogger();
    collector = await startCollector({ host: '127.0.0.1', port: 0, storeDir: path.join(dir, 'store'), logger });
    const instances = await writeInstances([
      { instanceId: 'llama-8b', maxRetries: 1, runners: [emitRunner('r0', CRASH, 'exit:1')] },
      { instanceId: 'clean', maxRetries: 0, runners: [emitRunner('r0', Buffer.alloc(0), 'exit:0')] },
    ]);
    running = startCli(['--instances', instances, '--log-dir', logDir, '--telemetry', '--no-telemetry-redact', '--telemetry-api-url', collector.url, '--runner-stop-grace', '2']);
    await eventually(async () => Object.values(await outboxStates(logDir)).filter((state) => state === 'delivered').length === 2, 30_000, 'two deliveries');
    const { code, tookMs } = await stopNode(running);
    expect(code).to.equal(0);
    expect(tookMs).to.be.below(2000 + 5000 + 1000);

    const listing = (await (await fetch(`${collector.url}/telemetry/runner-log`)).json()) as { reports: StoredReport[] };
    expect(listing.reports).to.have.length(1);
    const [report] = listing.reports;
    expect(report!.repeatCount).to.equal(1);
    expect(report!.key).to.equal(`runner_log/${report!.sha256.slice(0, 2)}/${report!.sha256}.stderr.log`);
    expect(await fs.readFile(path.join(collector.storeDir, report!.key))).to.deep.equal(CRASH);
    expect(await listFiles(path.join(logDir, 'runner_log', 'llama-8b', 'r0'))).to.have.length(2);
  });

  it('shows, then uploads, redacted bytes', async () => {
    const secretLines = Buffer.from(
      'loading /home/alice/models/llama-3-8b\n' +
        'hub token hf_SyntheticTokenForTestsOnlyAbCdEfGhIj1234\n' +
        'owner alice@example.org, peer 192.0.2.44\n' +
        'Traceback (most recent call last):\nImportError: libmlx.so: cannot open shared object file\n',
    );
    const instances = await writeInstances([{ instanceId: 'llama-8b', maxRetries: 0, runners: [emitRunner('r0', secretLines, 'exit:1')] }]);
    running = startCli(['--instances', instances, '--log-dir', logDir]);
    await eventually(async () => Object.values(await outboxStates(logDir)).includes('dry-run'), 20_000, 'dry-run report');
    await stopNode(running);
    const [logFile] = await listFiles(path.join(logDir, 'runner_log'));
    const logPath = path.join(logDir, 'runner_log', logFile!);

    const shown = await runCliBytes(['telemetry', 'show', '--log-dir', logDir, logPath]);
    expect(shown.code).to.equal(0);
    const { logger } = captureLogger();
    collector = await startCollector({ host: '127.0.0.1', port: 0, storeDir: path.join(dir, 'store'), logger });
    const uploaded = await runCli(['telemetry', 'upload', '--log-dir', logDir, '--telemetry-api-url', collector.url, logPath]);
    expect(uploaded.code, uploaded.output).to.equal(0);

    const listing = (await (await fetch(`${collector.url}/telemetry/runner-log`)).json()) as { reports: StoredReport[] };
    const stored = await fs.readFile(path.join(collector.storeDir, listing.reports[0]!.key));
    expect(stored).to.deep.equal(shown.stdout);
    const text = stored.toString('utf8');
    for (const secret of ['/home/alice', 'hf_SyntheticTokenForTestsOnlyAbCdEfGhIj1234', 'alice@example.org', '192.0.2.44']) {
      expect(text).to.not.contain(secret);
    }
    expect(text).to.contain('ImportError: libmlx.so: cannot open shared object file');
    expect(await fs.readFile(logPath)).to.deep.equal(secretLines);

    const listed = await runCli(['telemetry', 'list', '--log-dir', logDir]);
    expect(listed.output).to.match(/delivered .*key runner_log\//);
  });

  it('ends within the bound when the server hangs', async () => {
    server = await RecordingServer.start();
    server.script('presign', { kind: 'hang' }, { kind: 'hang' }, { kind: 'hang' });
    const instances = await writeInstances([
      { instanceId: 'llama-8b', maxRetries: 0, runners: [emitRunner('r0', CRASH, 'exit:1')] },
      { instanceId: 'serving', runners: [sleepRunner('r0')] },
    ]);
    running = startCli(['--instances', instances, '--log-dir', logDir, '--telemetry', '--telemetry-api-url', server.url, '--runner-stop-grace', '1', '--telemetry-drain-timeout', '1']);
    await server.waitForRequests(1);
    const { code, tookMs } = await stopNode(running);

    expect(code).to.equal(0);
    // Runner grace (1 s) plus drain deadline (1 s) plus one second.
    expect(tookMs).to.be.below(3000);
    expect(Object.values(await outboxStates(logDir))).to.include('pending');
  });

  it('delivers once after kill -9', async () => {
    server = await RecordingServer.start();
    server.script('put', { kind: 'hang' });
    const crashing = await writeInstances([{ instanceId: 'llama-8b', maxRetries: 0, runners: [emitRunner('r0', CRASH, 'exit:1')] }], 'crashing.json');
    const serving = await writeInstances([{ instanceId: 'serving', runners: [sleepRunner('r0')] }], 'serving.json');
    const flags = ['--log-dir', logDir, '--telemetry', '--no-telemetry-redact', '--telemetry-api-url', server.url];

    running = startCli(['--instances', crashing, ...flags]);
    await eventually(() => server!.puts().length === 1, 20_000, 'first PUT in flight');
    running.child.kill('SIGKILL');
    await running.exited;
    expect(Object.values(await outboxStates(logDir))).to.deep.equal(['pending']);

    running = startCli(['--instances', serving, ...flags]);
    await eventually(async () => Object.values(await outboxStates(logDir)).includes('delivered'), 20_000, 'delivery after restart');
    await stopNode(running);
    running = startCli(['--instances', serving, ...flags]);
    await eventually(() => /uploader thread started/.test(running!.output()), 10_000, 'third start');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await stopNode(running);

    // The serving runner's own logs (stopped by SIGTERM) are reports too; only the crash log is counted here.
    const crashPuts = server.puts().filter((put) => put.body.equals(CRASH));
    expect(crashPuts).to.have.length(2);
    expect(server.puts().indexOf(crashPuts[0]!)).to.equal(0);
  });

  it('prunes old logs of a runner', async () => {
    const instances = await writeInstances([{ instanceId: 'llama-8b', maxRetries: 2, runners: [emitRunner('r0', CRASH, 'exit:1')] }]);
    running = startCli(['--instances', instances, '--log-dir', logDir, '--runner-log-keep', '1']);
    const folder = path.join(logDir, 'runner_log', 'llama-8b', 'r0');
    await eventually(() => /instance llama-8b failed/.test(running!.output()), 20_000, 'three crashes');
    await eventually(async () => (await listFiles(folder)).length === 1, 10_000, 'one log left');
    await stopNode(running);

    const states = await outboxStates(logDir);
    expect(Object.values(states)).to.deep.equal(['dry-run']);
  });

  it('keeps logs whose report is pending', async () => {
    const refused = await closedPortUrl();
    const instances = await writeInstances([{ instanceId: 'llama-8b', maxRetries: 2, runners: [emitRunner('r0', CRASH, 'exit:1')] }]);
    running = startCli(['--instances', instances, '--log-dir', logDir, '--runner-log-keep', '1', '--telemetry', '--telemetry-api-url', refused]);
    await eventually(() => /instance llama-8b failed/.test(running!.output()), 20_000, 'three crashes');
    await eventually(async () => Object.values(await outboxStates(logDir)).filter((state) => state === 'pending').length === 3, 10_000, 'three pending reports');
    await stopNode(running);

    expect(await listFiles(path.join(logDir, 'runner_log', 'llama-8b', 'r0'))).to.have.length(3);
  });

  it('counts every submission of 200 ending runners', async function () {
    this.timeout(120_000);
    const instances = await writeInstances(
      Array.from({ length: 200 }, (_, index) => ({
        instanceId: `burst-${index}`,
        maxRetries: 0,
        runners: [{ runnerId: 'r0', command: ['/bin/sh', '-c', 'echo "fatal: shard lost" >&2; exit 1'] }],
      })),
    );
    running = startCli(['--instances', instances, '--log-dir', logDir, '--quiet']);
    await eventually(async () => (await listFiles(path.join(logDir, 'runner_log')).catch(() => [])).length === 200, 60_000, '200 logs');
    await eventually(async () => (await fs.readFile(path.join(logDir, 'exo.log'), 'utf8')).split('\n').filter((line) => line.includes('"message":"instance burst-')).length === 200, 60_000, '200 ends');
    const { code } = await stopNode(running);
    expect(code).to.equal(0);

    const lines = (await fs.readFile(path.join(logDir, 'exo.log'), 'utf8')).split('\n').filter((line) => line.includes('"message":"telemetry stopped'));
    const { ring } = JSON.parse(lines.at(-1)!) as { ring: { sent: number; droppedFull: number; droppedClosed: number } };
    expect(ring.sent + ring.droppedFull).to.equal(200);
    expect(ring.droppedClosed).to.equal(0);
  });
});

/** Runs the CLI and returns stdout as bytes, to compare it with stored bytes exactly. */
async function runCliBytes(args: string[]): Promise<{ code: number | null; stdout: Buffer }> {
  const run = startCli(args);
  const chunks: Buffer[] = [];
  run.child.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk));
  const { code } = await run.exited;
  return { code, stdout: Buffer.concat(chunks) };
}
