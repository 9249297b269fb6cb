import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

import { expect } from 'chai';

import { runnersDir } from './helpers/paths.js';
import { eventually, runCli, startCli } from './helpers/cli.js';
import { listFiles, makeTempDir } from './helpers/temp-dir.js';

const CRASH_BYTES = Buffer.concat([Buffer.from('loading shard 0\nfatal: weights corrupted '), Buffer.from([0xfe, 0x0a]), Buffer.from('no newline at end')]);

/** True while the process runs; a zombie waiting for init to reap it counts as ended. */
function processRuns(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function writeInstances(dir: string, document: unknown): Promise<string> {
  const file = path.join(dir, 'instances.json');
  await fs.writeFile(file, JSON.stringify(document));
  return file;
}

function crashingRunner(runnerId: string, end = 'exit:7') {
  return {
    runnerId,
    command: [process.execPath, path.join(runnersDir, 'emit.mjs')],
    env: { EMIT_STDERR_HEX: CRASH_BYTES.toString('hex'), EMIT_END: end },
  };
}

describe('exo node command', () => {
  let dir: string;
  let remove: () => Promise<void>;

  beforeEach(async () => {
    ({ dir, remove } = await makeTempDir());
  });

  afterEach(async () => {
    await remove();
  });

  it('logs, restarts and exits 0 on SIGTERM', async () => {
    const logDir = path.join(dir, 'logs');
    const instances = await writeInstances(dir, { instances: [{ instanceId: 'llama-8b', maxRetries: 5, runners: [crashingRunner('r0')] }] });
    const run = startCli(['--instances', instances, '--log-dir', logDir, '--telemetry-api-url', 'http://127.0.0.1:9']);
    const runnerFolder = path.join(logDir, 'runner_log', 'llama-8b', 'r0');
    await eventually(async () => (await listFiles(runnerFolder).catch(() => [])).length >= 2, 15_000, 'two runner starts');

    run.child.kill('SIGTERM');
    const { code, output } = await run.exited;
    expect(code, output).to.equal(0);
    const logs = await listFiles(runnerFolder);
    expect(logs.length).to.be.at.least(2);
    for (const log of logs) {
      expect(log).to.match(/^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_\d{6}Z\.stderr\.log$/);
      const bytes = await fs.readFile(path.join(runnerFolder, log));
      // The last start may have been stopped by SIGTERM before it wrote everything.
      if (log !== logs.at(-1)) expect(bytes).to.deep.equal(CRASH_BYTES);
    }
    expect(output).to.contain('ended: exit code 7');
    expect(output).to.contain('restarting runner after backoff');
    const nodeLog = await fs.readFile(path.join(logDir, 'exo.log'), 'utf8');
    expect(nodeLog).to.contain('"message":"node stopped"');
  });

  it('kills runners on a second SIGINT', async () => {
    const instances = await writeInstances(dir, {
      instances: [{ instanceId: 'stubborn', runners: [{ runnerId: 'r0', command: [process.execPath, path.join(runnersDir, 'ignore-sigterm.mjs')] }] }],
    });
    const run = startCli(['--instances', instances, '--log-dir', path.join(dir, 'logs'), '--runner-stop-grace', '30']);
    await eventually(() => run.output().includes('stderr: ready'), 15_000, 'runner ready');
    const pid = Number(/runner started .*pid=(\d+)/.exec(run.output())![1]);

    run.child.kill('SIGINT');
    await eventually(() => run.output().includes('stopping runner'), 5_000, 'stop started');
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    expect(code).to.equal(130);
    await eventually(() => !processRuns(pid), 5_000, 'runner gone');
  });

  it('rejects a bad id with status 2', async () => {
    const logDir = path.join(dir, 'logs');
    const instances = await writeInstances(dir, { instances: [{ instanceId: '../x', runners: [crashingRunner('r0')] }] });
    const { code, output } = await runCli(['--instances', instances, '--log-dir', logDir]);

    expect(code).to.equal(2);
    expect(output).to.contain(instances);
    expect(output).to.contain('$.instances[0].instanceId');
    expect(await listFiles(dir)).to.deep.equal(['instances.json']);
  });

  it('rejects a missing instances file', async () => {
    const { code, output } = await runCli(['--instances', path.join(dir, 'absent.json'), '--log-dir', dir]);
    expect(code).to.equal(2);
    expect(output).to.contain('absent.json: not found');
  });

  it('rejects an out-of-range channel capacity', async () => {
    const instances = await writeInstances(dir, { instances: [{ instanceId: 'a', runners: [crashingRunner('r0')] }] });
    const { code, output } = await runCli(['--instances', instances, '--log-dir', dir, '--telemetry-channel-capacity', '0']);
    expect(code).to.equal(2);
    expect(output).to.contain('--telemetry-channel-capacity 0');
    expect(output).to.contain('1 to 65536');
  });

  it('rejects a log dir that is a file', async () => {
    const instances = await writeInstances(dir, { instances: [{ instanceId: 'a', runners: [crashingRunner('r0')] }] });
    const { code, output } = await runCli(['--instances', instances, '--log-dir', instances]);
    expect(code).to.equal(2);
    expect(output).to.contain(`cannot use --log-dir ${instances}`);
  });

  it('rejects a missing runner cwd', async () => {
    const instances = await writeInstances(dir, { instances: [{ instanceId: 'a', runners: [{ ...crashingRunner('r0'), cwd: 'no-such-folder' }] }] });
    const { code, output } = await runCli(['--instances', instances, '--log-dir', path.join(dir, 'logs')]);
    expect(code).to.equal(2);
    expect(output).to.contain('$.instances[0].runners[0].cwd');
    expect(output).to.contain('expected an existing folder');
  });

  it('names a non-numeric option', async () => {
    const instances = await writeInstances(dir, { instances: [{ instanceId: 'a', runners: [crashingRunner('r0')] }] });
    const { code, output } = await runCli(['--instances', instances, '--log-dir', dir, '--runner-stop-grace', 'abc']);
    expect(code).to.equal(2);
    expect(output).to.contain('invalid --runner-stop-grace (not a number)');
  });

  it('lists telemetry options in help', async () => {
    const { code, output } = await runCli(['--help']);
    expect(code).to.equal(0);
    expect(output).to.match(/--telemetry-channel-capacity\s+Submissions \(records\)/);
    expect(output).to.contain('[default: 64]');
    expect(output).to.match(/--runner-stop-grace\s+Seconds/);
  });

  it('rejects an unknown flag with status 2', async () => {
    const { code, output } = await runCli(['--instances', 'x.json', '--bogus-flag']);
    expect(code).to.equal(2);
    expect(output).to.contain('bogus-flag');
  });
});
