import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

import { expect } from 'chai';
import sinon from 'sinon';

import type { RunnerSpec } from '../src/node/instances.js';
import { STDERR_LOG_NAME_PATTERN } from '../src/node/log-dir.js';
import type { RunnerEnd } from '../src/supervision/runner-end.js';
import { RunnerSupervisor, type RunnerSupervisorOptions } from '../src/supervision/runner-supervisor.js';
import { captureLogger, type CapturedEntry } from './helpers/capture-logger.js';
import { fixturesDir, runnersDir } from './helpers/paths.js';
import { listFiles, makeTempDir } from './helpers/temp-dir.js';

/** Invalid UTF-8 (0xff, a lone continuation byte) and a last line without newline. */
const AWKWARD_BYTES = Buffer.concat([
  Buffer.from('first line\r\n'),
  Buffer.from([0x62, 0x61, 0x64, 0x20, 0xff, 0x80, 0x0a]),
  Buffer.from('\n\n'),
  Buffer.from('last line without newline'),
]);

function emitRunner(stderr: Buffer, end: string, stdout = ''): RunnerSpec {
  return {
    runnerId: 'r0',
    command: [process.execPath, path.join(runnersDir, 'emit.mjs')],
    env: { EMIT_STDERR_HEX: stderr.toString('hex'), EMIT_END: end, EMIT_STDOUT: stdout },
    cwd: runnersDir,
  };
}

/** Resolves with the next `count` runner ends reported by the hook. */
function collectEnds(count: number): { ends: RunnerEnd[]; done: Promise<RunnerEnd[]>; onEnd: (end: RunnerEnd) => void } {
  const ends: RunnerEnd[] = [];
  let resolve!: (value: RunnerEnd[]) => void;
  const done = new Promise<RunnerEnd[]>((r) => {
    resolve = r;
  });
  return {
    ends,
    done,
    onEnd: (end) => {
      ends.push(end);
      if (ends.length === count) resolve(ends);
    },
  };
}

describe('RunnerSupervisor', () => {
  let logDir: string;
  let removeDir: () => Promise<void>;
  let entries: CapturedEntry[];
  let base: Omit<RunnerSupervisorOptions, 'spec' | 'onEnd' | 'onGiveUp'>;

  beforeEach(async () => {
    ({ dir: logDir, remove: removeDir } = await makeTempDir());
    const captured = captureLogger();
    entries = captured.entries;
    base = {
      instanceId: 'llama-8b',
      logDir,
      maxRetries: 0,
      stopGraceMs: 2000,
      restartPolicy: { initialDelayMs: 1000, maxDelayMs: 30000, healthyUptimeMs: 60000 },
      logger: captured.logger,
    };
  });

  afterEach(async () => {
    await removeDir();
  });

  it('stores exactly the stderr bytes', async () => {
    const collected = collectEnds(1);
    const supervisor = new RunnerSupervisor({ ...base, spec: emitRunner(AWKWARD_BYTES, 'exit:3'), onEnd: collected.onEnd, onGiveUp: () => undefined });
    supervisor.start();
    const [end] = await collected.done;

    const files = await listFiles(logDir);
    expect(files).to.have.length(1);
    expect(files[0]!.startsWith(path.join('runner_log', 'llama-8b', 'r0') + path.sep)).to.equal(true);
    expect(path.basename(files[0]!)).to.match(STDERR_LOG_NAME_PATTERN);
    expect(path.join(logDir, files[0]!)).to.equal(end!.logPath);
    expect(await fs.readFile(end!.logPath)).to.deep.equal(AWKWARD_BYTES);
  });

  it('logs each stderr line at warn', async () => {
    const collected = collectEnds(1);
    const supervisor = new RunnerSupervisor({ ...base, spec: emitRunner(AWKWARD_BYTES, 'exit:3'), onEnd: collected.onEnd, onGiveUp: () => undefined });
    supervisor.start();
    await collected.done;

    const lines = entries.filter((entry) => entry.message.startsWith('stderr: '));
    expect(lines.map((entry) => entry.message)).to.deep.equal(['stderr: first line', 'stderr: bad \ufffd\ufffd', 'stderr: last line without newline']);
    for (const line of lines) {
      expect(line.level).to.equal('warn');
      expect(line.meta).to.include({ instanceId: 'llama-8b', runnerId: 'r0' });
    }
  });

  it('describes an exit code', async () => {
    const collected = collectEnds(1);
    const supervisor = new RunnerSupervisor({ ...base, spec: emitRunner(Buffer.from('boom\n'), 'exit:3'), onEnd: collected.onEnd, onGiveUp: () => undefined });
    supervisor.start();
    const [end] = await collected.done;

    expect(end!.exitCode).to.equal(3);
    expect(end!.signal).to.equal(null);
    expect(end!.primaryCause).to.match(/^exit code 3\b/);
    const error = entries.find((entry) => entry.level === 'error');
    expect(error?.message).to.contain('ended: exit code 3');
  });

  it('describes a segmentation fault signal', async () => {
    const collected = collectEnds(1);
    const supervisor = new RunnerSupervisor({ ...base, spec: emitRunner(Buffer.from('about to crash\n'), 'signal:SIGSEGV'), onEnd: collected.onEnd, onGiveUp: () => undefined });
    supervisor.start();
    const [end] = await collected.done;

    expect(end!.signal).to.equal('SIGSEGV');
    expect(end!.exitCode).to.equal(null);
    expect(end!.primaryCause).to.match(/^signal 11 \(SIGSEGV\)/);
  });

  it('classifies a Metal timeout fixture', async () => {
    const bytes = await fs.readFile(path.join(fixturesDir, 'metal-gpu-timeout.stderr.log'));
    const collected = collectEnds(1);
    const supervisor = new RunnerSupervisor({ ...base, spec: emitRunner(bytes, 'signal:SIGABRT'), onEnd: collected.onEnd, onGiveUp: () => undefined });
    supervisor.start();
    const [end] = await collected.done;

    expect(await fs.readFile(end!.logPath)).to.deep.equal(bytes);
    expect(end!.report.diagnostics.map((diagnostic) => diagnostic.kind)).to.include('metal.gpu_timeout');
    expect(end!.primaryCause).to.match(/^signal 6 \(SIGABRT\)/);
    expect(end!.primaryCause).to.contain('Metal GPU timeout');
  });

  it('reports a clean end without restart', async () => {
    const collected = collectEnds(1);
    const supervisor = new RunnerSupervisor({ ...base, maxRetries: 3, spec: emitRunner(Buffer.alloc(0), 'exit:0'), onEnd: collected.onEnd, onGiveUp: () => undefined });
    supervisor.start();
    const [end] = await collected.done;

    expect(end!.exitCode).to.equal(0);
    expect(supervisor.status).to.equal('completed');
    expect((await fs.stat(end!.logPath)).size).to.equal(0);
    expect(entries.filter((entry) => entry.level === 'error')).to.deep.equal([]);
  });

  it('logs stdout chunks as warnings', async () => {
    const collected = collectEnds(1);
    const supervisor = new RunnerSupervisor({ ...base, spec: emitRunner(Buffer.alloc(0), 'exit:0', 'hello on stdout'), onEnd: collected.onEnd, onGiveUp: () => undefined });
    supervisor.start();
    await collected.done;

    const stdout = entries.find((entry) => entry.message.startsWith('unexpected stdout'));
    expect(stdout?.level).to.equal('warn');
    expect(stdout?.message).to.contain('hello on stdout');
  });

  it('reports a command that is not found', async () => {
    const collected = collectEnds(1);
    const spec: RunnerSpec = { runnerId: 'r0', command: ['/nonexistent/exo-runner'], env: {}, cwd: logDir };
    const supervisor = new RunnerSupervisor({ ...base, spec, onEnd: collected.onEnd, onGiveUp: () => undefined });
    supervisor.start();
    const [end] = await collected.done;

    expect(end!.spawnError).to.contain('ENOENT');
    expect(end!.primaryCause).to.match(/^failed to start: /);
  });

  it('kills a runner that ignores SIGTERM', async () => {
    const collected = collectEnds(1);
    const spec: RunnerSpec = { runnerId: 'r0', command: [process.execPath, path.join(runnersDir, 'ignore-sigterm.mjs')], env: {}, cwd: runnersDir };
    const supervisor = new RunnerSupervisor({ ...base, stopGraceMs: 300, spec, onEnd: collected.onEnd, onGiveUp: () => undefined });
    supervisor.start();
    await waitForEntry(entries, (entry) => entry.message === 'stderr: ready');

    await supervisor.stop();
    const [end] = await collected.done;
    expect(end!.signal).to.equal('SIGKILL');
    expect(end!.stopRequested).to.equal(true);
    expect(entries.some((entry) => entry.message === 'runner ignored SIGTERM, sending SIGKILL')).to.equal(true);
    expect(await fs.readFile(end!.logPath, 'utf8')).to.equal('ready\nSIGTERM ignored\n');
  });

  it('stops a runner with SIGTERM', async () => {
    const collected = collectEnds(1);
    const spec: RunnerSpec = { runnerId: 'r0', command: [process.execPath, path.join(runnersDir, 'sleep.mjs')], env: {}, cwd: runnersDir };
    const supervisor = new RunnerSupervisor({ ...base, spec, onEnd: collected.onEnd, onGiveUp: () => undefined });
    supervisor.start();
    await waitForEntry(entries, (entry) => entry.message === 'stderr: serving');

    await supervisor.stop();
    const [end] = await collected.done;
    expect(end!.signal).to.equal('SIGTERM');
    expect(supervisor.status).to.equal('stopped');
    expect(entries.some((entry) => entry.level === 'error')).to.equal(false);
  });

  it('kills processes a runner left', async () => {
    const collected = collectEnds(1);
    const spec: RunnerSpec = { runnerId: 'r0', command: [process.execPath, path.join(runnersDir, 'leave-helper.mjs')], env: {}, cwd: runnersDir };
    const supervisor = new RunnerSupervisor({ ...base, stopGraceMs: 300, spec, onEnd: collected.onEnd, onGiveUp: () => undefined });
    supervisor.start();
    const [end] = await collected.done;

    const helperPid = Number(/helper pid (\d+)/.exec(await fs.readFile(end!.logPath, 'utf8'))![1]);
    // SIGKILL lands asynchronously, so give a loaded machine a moment.
    await waitUntil(() => !processAlive(helperPid), 5_000);
    expect(processAlive(helperPid)).to.equal(false);
    expect(entries.some((entry) => entry.message === 'processes left by the runner ignored SIGTERM, sending SIGKILL to its group')).to.equal(true);
  });

  it('rate-limits the log of a flood', async () => {
    const collected = collectEnds(1);
    const spec: RunnerSpec = { runnerId: 'r0', command: [process.execPath, path.join(runnersDir, 'flood.mjs')], env: { FLOOD_BYTES: String(16 * 1024 * 1024) }, cwd: runnersDir };
    const supervisor = new RunnerSupervisor({ ...base, spec, onEnd: collected.onEnd, onGiveUp: () => undefined });
    supervisor.start();
    const [end] = await collected.done;

    const stored = await fs.readFile(end!.logPath, 'utf8');
    const storedLines = stored.split('\n').filter((line) => line !== '');
    expect(storedLines.length).to.be.greaterThan(200_000);
    expect(storedLines.at(-1)).to.match(/^flood line \d+ of a runner/);
    const logged = entries.filter((entry) => entry.message.startsWith('stderr: '));
    const seconds = Math.ceil((end!.endedAtMs - end!.startedAtMs) / 1000) + 1;
    expect(logged.length).to.be.at.most(50 * seconds);
    const summaries = entries.filter((entry) => /runner stderr lines not logged/.test(entry.message));
    const suppressed = summaries.reduce((sum, entry) => sum + Number(entry.message.split(' ')[0]), 0);
    expect(logged.length + suppressed).to.equal(storedLines.length);
  });

  describe('restarts', () => {
    let clock: sinon.SinonFakeTimers;

    beforeEach(() => {
      // Only the restart timers are faked; child processes and file I/O stay real.
      clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'], shouldClearNativeTimers: true });
    });

    afterEach(() => {
      clock.restore();
    });

    it('restarts with doubling backoff, then gives up', async () => {
      const ends: RunnerEnd[] = [];
      let gaveUp: RunnerEnd | undefined;
      const supervisor = new RunnerSupervisor({
        ...base,
        maxRetries: 2,
        spec: emitRunner(Buffer.from('crash\n'), 'exit:1'),
        onEnd: (end) => ends.push(end),
        onGiveUp: (end) => {
          gaveUp = end;
        },
      });
      supervisor.start();

      await waitUntil(() => ends.length === 1);
      expect(supervisor.status).to.equal('backoff');
      await clock.tickAsync(999);
      await settle();
      expect(ends).to.have.length(1);
      await clock.tickAsync(1);
      await waitUntil(() => ends.length === 2);

      await clock.tickAsync(1999);
      await settle();
      expect(ends).to.have.length(2);
      await clock.tickAsync(1);
      await waitUntil(() => ends.length === 3);

      await waitUntil(() => gaveUp !== undefined);
      expect(supervisor.status).to.equal('failed');
      const delays = entries.filter((entry) => entry.message === 'restarting runner after backoff').map((entry) => entry.meta.delayMs);
      expect(delays).to.deep.equal([1000, 2000]);
      const logs = await listFiles(path.join(logDir, 'runner_log', 'llama-8b', 'r0'));
      expect(logs).to.have.length(3);
      expect(new Set(ends.map((end) => end.logPath)).size).to.equal(3);
    });

    it('cancels a pending restart on stop', async () => {
      const ends: RunnerEnd[] = [];
      const supervisor = new RunnerSupervisor({ ...base, maxRetries: 5, spec: emitRunner(Buffer.from('crash\n'), 'exit:1'), onEnd: (end) => ends.push(end), onGiveUp: () => undefined });
      supervisor.start();
      await waitUntil(() => ends.length === 1);

      await supervisor.stop();
      await clock.tickAsync(60_000);
      await settle();
      expect(ends).to.have.length(1);
      expect(supervisor.status).to.equal('stopped');
    });
  });
});

/** True while the process runs. A killed orphan may stay a zombie (state Z) until init reaps it, which counts as dead. */
function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Waits with real time (setImmediate is not faked) for a condition driven by child processes. */
async function waitUntil(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const startedAt = performance.now();
  while (!condition()) {
    if (performance.now() - startedAt > timeoutMs) throw new Error(`condition not met after ${timeoutMs} ms`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function waitForEntry(entries: CapturedEntry[], match: (entry: CapturedEntry) => boolean): Promise<void> {
  await waitUntil(() => entries.some(match));
}

/** Lets pending I/O callbacks run, so a restart that should not happen would show. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i += 1) await new Promise((resolve) => setImmediate(resolve));
}
