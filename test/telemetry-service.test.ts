import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

import { expect } from 'chai';

import type { TelemetryConfig } from '../src/telemetry/config.js';
import { openOutboxReader } from '../src/telemetry/outbox/outbox.js';
import { TelemetryService, type TelemetryServiceOptions } from '../src/telemetry/service.js';
import { captureLogger, type CapturedEntry } from './helpers/capture-logger.js';
import { eventually } from './helpers/cli.js';
import { RecordingServer } from './helpers/recording-server.js';
import { writeRunnerLog } from './helpers/runner-logs.js';
import { makeTempDir } from './helpers/temp-dir.js';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('TelemetryService', () => {
  let logDir: string;
  let remove: () => Promise<void>;
  let server: RecordingServer;
  let entries: CapturedEntry[];
  let service: TelemetryService | undefined;

  function startService(overrides: Partial<TelemetryConfig & Pick<TelemetryServiceOptions, 'uploaderEntry'>> = {}): TelemetryService {
    const captured = captureLogger();
    entries = captured.entries;
    service = new TelemetryService({
      mode: 'upload',
      apiUrl: server.url,
      channelCapacity: 64,
      timeoutMs: 2000,
      drainTimeoutMs: 2000,
      redact: false,
      maxAttemptsPerReport: 5,
      runnerLogKeep: 20,
      ...overrides,
      logDir,
      logger: captured.logger,
      // The uploader thread logs to the console on its own; tests keep it to errors.
      logging: { verbosity: -1, format: 'human' },
    });
    service.start();
    return service;
  }

  beforeEach(async () => {
    ({ dir: logDir, remove } = await makeTempDir());
    server = await RecordingServer.start();
  });

  afterEach(async () => {
    await service?.shutdown();
    service = undefined;
    await server.close();
    await remove();
  });

  it('uploads from the uploader thread', async () => {
    const bytes = Buffer.concat([Buffer.from('Traceback (most recent call last):\n'), Buffer.from([0xff, 0xfe]), Buffer.from('\nRuntimeError: boom')]);
    const submission = await writeRunnerLog(logDir, 'llama-8b', 'r0', bytes);
    startService().submit(submission);

    await eventually(() => server.puts().some((request) => request.complete), 15_000, 'one complete PUT');
    const [presign] = server.presignBodies();
    expect(presign!.sha256).to.equal(sha256(bytes));
    expect(presign!.size).to.equal(bytes.length);
    const [put] = server.puts();
    expect(put!.body).to.deep.equal(bytes);
    expect(put!.headers['content-length']).to.equal(String(bytes.length));
    expect(put!.headers['transfer-encoding']).to.equal(undefined);
    expect(server.presigns()).to.have.length(1);
  });

  it('counts drops of a full ring', async () => {
    const running = startService({ channelCapacity: 1 });
    const submission = await writeRunnerLog(logDir, 'burst', 'r0', 'crash\n');
    let accepted = 0;
    for (let i = 0; i < 200; i += 1) {
      if (running.submit({ ...submission, endedAtMs: i })) accepted += 1;
    }

    const stats = await running.stats();
    expect(stats.ring.sent).to.equal(accepted);
    expect(stats.ring.sent + stats.ring.droppedFull).to.equal(200);
    expect(stats.ring.droppedFull).to.be.greaterThan(0);
  });

  it('restarts a crashed uploader thread', async () => {
    const entry = new URL('./workers/crash-once-uploader.js', import.meta.url);
    const running = startService({ uploaderEntry: entry });
    const bytes = Buffer.from('fatal: submitted while the uploader was down\n');
    running.submit(await writeRunnerLog(logDir, 'llama-8b', 'r0', bytes));

    await eventually(() => server.puts().some((request) => request.complete), 15_000, 'upload after restart');
    expect(server.puts()[0]!.body).to.deep.equal(bytes);
    const exitLog = entries.find((logged) => logged.message === 'uploader thread exited unexpectedly, restarting after backoff');
    expect(exitLog?.level).to.equal('warn');
    expect(String(exitLog?.meta.cause)).to.contain('injected uploader failure');
    expect((await running.stats()).uploaderRestarts).to.equal(1);
  });

  it('records submissions made during restart backoff', async () => {
    const entry = new URL('./workers/crash-once-uploader.js', import.meta.url);
    const running = startService({ uploaderEntry: entry });
    await eventually(() => entries.some((logged) => logged.message.startsWith('uploader thread exited unexpectedly')), 15_000, 'first thread dead');
    const submission = await writeRunnerLog(logDir, 'llama-8b', 'r0', 'crash while the uploader was down\n');
    expect(running.submit(submission)).to.equal(true);

    await running.shutdown();
    const id = path.relative(path.join(logDir, 'runner_log'), submission.logPath);
    const recorded = await openOutboxReader(logDir).read(id);
    expect(recorded?.state).to.be.oneOf(['pending', 'delivered']);
  });

  it('bounds shutdown when the server hangs', async () => {
    server.script('presign', { kind: 'hang' });
    const running = startService({ drainTimeoutMs: 500 });
    running.submit(await writeRunnerLog(logDir, 'llama-8b', 'r0', 'crash\n'));
    await server.waitForRequests(1);

    const startedAt = Date.now();
    await running.shutdown();
    const tookMs = Date.now() - startedAt;
    // The drain deadline plus the close bound (500 ms), plus scheduling slack on a loaded machine.
    expect(tookMs).to.be.below(500 + 500 + 1000);
    const outbox = await fs.readdir(`${logDir}/telemetry/outbox`);
    const [entryFile] = outbox.filter((name) => name.endsWith('.json'));
    const entry = JSON.parse(await fs.readFile(`${logDir}/telemetry/outbox/${entryFile}`, 'utf8')) as { state: string };
    expect(entry.state).to.equal('pending');
  });

  it('keeps main-thread timers on time while hashing', async function () {
    this.timeout(120_000);
    const size = 256 * 1024 * 1024;
    const submission = await writeRunnerLog(logDir, 'big', 'r0', Buffer.alloc(0));
    const handle = await fs.open(submission.logPath, 'w');
    const block = Buffer.alloc(4 * 1024 * 1024, 'stderr line of a runner that writes a lot\n');
    for (let written = 0; written < size; written += block.length) await handle.write(block);
    await handle.close();

    const running = startService({ mode: 'dry-run' });
    const gaps: number[] = [];
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      gaps.push(now - last);
      last = now;
    }, 10);
    running.submit(submission);
    const reader = openOutboxReader(logDir);
    const id = path.relative(path.join(logDir, 'runner_log'), submission.logPath);
    await eventually(async () => (await reader.read(id))?.state === 'dry-run', 100_000, 'dry-run hash of 256 MiB');
    clearInterval(timer);

    // The uploader hashed 256 MiB meanwhile; a main thread that did the work would miss ticks by seconds.
    expect(gaps.length).to.be.greaterThan(20);
    expect(Math.max(...gaps)).to.be.below(250);
  });
});
