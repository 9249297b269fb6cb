import { promises as fs } from 'node:fs';
import path from 'node:path';

import { expect } from 'chai';
import sinon from 'sinon';

import type { Submission } from '../src/telemetry/submission.js';
import type { UploaderConfig } from '../src/telemetry/upload/config.js';
import { ReportUploader, type ReportOutcome } from '../src/telemetry/upload/report-uploader.js';
import { captureLogger, type CapturedEntry } from './helpers/capture-logger.js';
import { closedPortUrl, RecordingServer } from './helpers/recording-server.js';
import { makeTempDir } from './helpers/temp-dir.js';

// Captured before any test fakes the timers: real waits let sockets and files make progress.
const realSetTimeout = globalThis.setTimeout;
const realSleep = (ms: number) => new Promise<void>((resolve) => realSetTimeout(resolve, ms));

/** Waits in real time until `condition` holds; fails naming `what` after five seconds. */
async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  for (let waitedMs = 0; waitedMs < 5_000; waitedMs += 5) {
    if (condition()) return;
    await realSleep(5);
  }
  throw new Error(`timed out waiting until ${what}`);
}

let logCounter = 0;

async function writeLog(logDir: string, text: string, runnerId = 'r0'): Promise<Submission> {
  logCounter += 1;
  const folder = path.join(logDir, 'runner_log', 'llama-8b', runnerId);
  await fs.mkdir(folder, { recursive: true });
  const logPath = path.join(folder, `2026-05-28_14-03-07_${String(logCounter).padStart(6, '0')}Z.stderr.log`);
  await fs.writeFile(logPath, text);
  return {
    kind: 'runner-stderr',
    logPath,
    instanceId: 'llama-8b',
    runnerId,
    exitCode: null,
    signal: 'SIGSEGV',
    diagnosticKinds: [],
    primaryCause: 'signal 11 (SIGSEGV)',
    endedAtMs: 1_780_000_000_000,
  };
}

function reportIdOf(logDir: string, submission: Submission): string {
  return path.relative(path.join(logDir, 'runner_log'), submission.logPath).split(path.sep).join('/');
}

/** Records every report outcome of an uploader. */
function recordOutcomes(uploader: ReportUploader): Map<string, ReportOutcome> {
  const outcomes = new Map<string, ReportOutcome>();
  uploader.onReportOutcome((id, outcome) => outcomes.set(id, outcome));
  return outcomes;
}

function warningsWith(entries: CapturedEntry[], fields: Record<string, unknown>): CapturedEntry[] {
  return entries.filter((entry) => entry.level === 'warn' && Object.entries(fields).every(([key, value]) => entry.meta[key] === value));
}

describe('ReportUploader faults', () => {
  let clock: sinon.SinonFakeTimers;
  let logDir: string;
  let removeDir: () => Promise<void>;
  let server: RecordingServer;
  let uploader: ReportUploader | undefined;
  let logs: CapturedEntry[];

  /** Creates and starts an uploader whose backoff draws 0.5: retry delays of 500, 1000, 2000 ms. */
  async function startUploader(overrides: Partial<UploaderConfig> = {}): Promise<ReportUploader> {
    const { logger, entries } = captureLogger();
    logs = entries;
    uploader = new ReportUploader(
      { logDir, apiUrl: server.url, mode: 'upload', redact: false, timeoutMs: 10_000, random: () => 0.5, ...overrides },
      logger,
    );
    await uploader.start();
    return uploader;
  }

  beforeEach(async () => {
    // Only the engine's own timers and clock are fake; sockets, files and piscina run in real time.
    clock = sinon.useFakeTimers({ now: Date.UTC(2026, 4, 28, 14, 0, 0), toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    ({ dir: logDir, remove: removeDir } = await makeTempDir('exo-upload-faults-'));
    server = await RecordingServer.start();
    uploader = undefined;
    logs = [];
  });

  afterEach(async () => {
    const closing = uploader?.close();
    await clock.tickAsync(5_000);
    await closing;
    clock.restore();
    await server.close();
    await removeDir();
    expect(JSON.stringify(logs)).not.to.contain('secret-signature');
  });

  it('logs a presign 500 and goes on', async () => {
    server.script('presign', { kind: 'status', status: 500 });
    const failing = await writeLog(logDir, 'first crash\n');
    const next = await writeLog(logDir, 'second crash\n', 'r1');
    const engine = await startUploader({ maxAttemptsPerReport: 1 });
    const outcomes = recordOutcomes(engine);

    engine.enqueue(failing);
    engine.enqueue(next);
    await waitUntil(() => outcomes.size === 2, 'both reports ended');

    expect(outcomes.get(reportIdOf(logDir, failing))).to.equal('pending');
    expect(outcomes.get(reportIdOf(logDir, next))).to.equal('delivered');
    const [warning] = warningsWith(logs, { step: 'presign', status: 500 });
    expect(warning.message).to.equal('telemetry upload failed, attempt budget spent; report stays pending');
    expect(warning.meta).to.deep.include({ instanceId: 'llama-8b', runnerId: 'r0', reportId: reportIdOf(logDir, failing) });
    expect(server.puts()).to.have.lengthOf(1);
  });

  it('retries 500 three times', async () => {
    server.script('presign', { kind: 'status', status: 500 }, { kind: 'status', status: 500 }, { kind: 'status', status: 500 });
    const submission = await writeLog(logDir, 'crash\n');
    const engine = await startUploader();
    const outcomes = recordOutcomes(engine);
    engine.enqueue(submission);

    for (const [retry, delayMs] of [[1, 500], [2, 1_000], [3, 2_000]]) {
      await waitUntil(() => engine.stats().retried === retry, `retry ${retry} is scheduled`);
      await clock.tickAsync(delayMs - 1);
      await realSleep(30);
      expect(server.presigns(), `presigns before retry ${retry}`).to.have.lengthOf(retry);
      await clock.tickAsync(1);
      await waitUntil(() => server.presigns().length === retry + 1, `presign ${retry + 1} arrives`);
    }

    await waitUntil(() => outcomes.size === 1, 'the report ended');
    expect(outcomes.get(reportIdOf(logDir, submission))).to.equal('delivered');
    expect(engine.stats()).to.deep.include({ sent: 1, failed: 3, retried: 3 });
    expect(warningsWith(logs, { step: 'presign', status: 500 }).map((entry) => entry.meta.retryInMs)).to.deep.equal([500, 1_000, 2_000]);
  });

  it('honors Retry-After on 429', async () => {
    server.script('presign', { kind: 'status', status: 429, headers: { 'Retry-After': '7' } });
    const submission = await writeLog(logDir, 'crash\n');
    const engine = await startUploader();
    const outcomes = recordOutcomes(engine);
    engine.enqueue(submission);

    await waitUntil(() => engine.stats().retried === 1, 'the retry is scheduled');
    await clock.tickAsync(6_999);
    await realSleep(30);
    expect(server.presigns()).to.have.lengthOf(1);
    await clock.tickAsync(1);
    await waitUntil(() => outcomes.size === 1, 'the report ended');
    expect(outcomes.get(reportIdOf(logDir, submission))).to.equal('delivered');
    expect(warningsWith(logs, { status: 429 })[0].meta.retryInMs).to.equal(7_000);
  });

  it('times out a silent server', async () => {
    server.script('presign', { kind: 'hang' });
    const submission = await writeLog(logDir, 'crash\n');
    const engine = await startUploader();
    const outcomes = recordOutcomes(engine);
    engine.enqueue(submission);

    await waitUntil(() => server.presigns().length === 1 && server.presigns()[0].complete, 'the presign arrives');
    await clock.tickAsync(9_999);
    await realSleep(30);
    expect(engine.stats().failed).to.equal(0);
    await clock.tickAsync(1);
    await waitUntil(() => engine.stats().retried === 1, 'the retry is scheduled');
    expect(warningsWith(logs, { step: 'presign', code: 'ERR_TELEMETRY_TIMEOUT' })).to.have.lengthOf(1);

    await clock.tickAsync(500);
    await waitUntil(() => outcomes.size === 1, 'the report ended');
    expect(outcomes.get(reportIdOf(logDir, submission))).to.equal('delivered');
  });

  it('drains by the deadline', async () => {
    server.script('put', { kind: 'hang' });
    const submission = await writeLog(logDir, 'crash\n');
    const id = reportIdOf(logDir, submission);
    const engine = await startUploader({ timeoutMs: 60_000 });
    const outcomes = recordOutcomes(engine);
    engine.enqueue(submission);
    await waitUntil(() => server.puts().length === 1 && server.puts()[0].complete, 'the PUT body arrives');

    let result: Awaited<ReturnType<ReportUploader['drain']>> | undefined;
    void engine.drain(5_000).then((drained) => {
      result = drained;
    });
    await clock.tickAsync(4_999);
    await realSleep(30);
    expect(result).to.equal(undefined);
    await clock.tickAsync(1);
    await waitUntil(() => result !== undefined, 'drain resolves');

    expect(result).to.deep.equal({ drained: false, pending: 1, abortedInFlight: 1, waitedMs: 5_000 });
    await waitUntil(() => outcomes.size === 1, 'the aborted report ended');
    expect(outcomes.get(id)).to.equal('pending');
    expect(engine.outboxStore?.get(id)?.state).to.equal('pending');
  });

  it('drains through a due retry', async () => {
    server.script('presign', { kind: 'status', status: 503 });
    const submission = await writeLog(logDir, 'crash\n');
    const engine = await startUploader();
    engine.enqueue(submission);
    await waitUntil(() => engine.stats().retried === 1, 'the retry is scheduled');

    let result: Awaited<ReturnType<ReportUploader['drain']>> | undefined;
    void engine.drain(5_000).then((drained) => {
      result = drained;
    });
    await clock.tickAsync(500);
    await waitUntil(() => result !== undefined, 'drain resolves');
    expect(result).to.deep.include({ drained: true, pending: 0, abortedInFlight: 0 });
    expect(result!.waitedMs).to.equal(500);
    expect(engine.stats().sent).to.equal(1);
  });

  it('retries a malformed presign response', async () => {
    server.script('presign', { kind: 'malformed-json' });
    const submission = await writeLog(logDir, 'crash\n');
    const engine = await startUploader();
    const outcomes = recordOutcomes(engine);
    engine.enqueue(submission);

    await waitUntil(() => engine.stats().retried === 1, 'the retry is scheduled');
    const [warning] = warningsWith(logs, { step: 'presign', code: 'ERR_INVALID_PRESIGN_RESPONSE' });
    expect(warning.meta.error).to.equal('invalid presign response: the body is not JSON');
    await clock.tickAsync(500);
    await waitUntil(() => outcomes.size === 1, 'the report ended');
    expect(outcomes.get(reportIdOf(logDir, submission))).to.equal('delivered');
  });

  it('rejects an oversized presign response', async () => {
    server.script('presign', { kind: 'large-body', bytes: 10 * 1024 * 1024 });
    const submission = await writeLog(logDir, 'crash\n');
    const engine = await startUploader();
    const outcomes = recordOutcomes(engine);
    engine.enqueue(submission);

    await waitUntil(() => engine.stats().retried === 1, 'the retry is scheduled');
    const [warning] = warningsWith(logs, { step: 'presign', code: 'ERR_BAD_RESPONSE' });
    expect(String(warning.meta.error)).to.contain('maxContentLength size of 65536 exceeded');
    await clock.tickAsync(500);
    await waitUntil(() => outcomes.size === 1, 'the report ended');
    expect(outcomes.get(reportIdOf(logDir, submission))).to.equal('delivered');
  });

  it('refuses unsafe presign responses', async () => {
    const unsafeReplies = [
      { kind: 'presign-ok', uploadUrl: 'ftp://127.0.0.1:1/upload' },
      { kind: 'presign-ok', headers: { Cookie: 'session=1' } },
      { kind: 'status', status: 200, body: { key: 'k', uploadUrl: `${server.url}/uploads/x`, expiresIn: 0, maxSize: 10 } },
    ] as const;
    server.script('presign', ...unsafeReplies);
    const engine = await startUploader({ maxAttemptsPerReport: 1 });
    const outcomes = recordOutcomes(engine);
    for (const [index] of unsafeReplies.entries()) engine.enqueue(await writeLog(logDir, 'crash\n', `r${index}`));

    await waitUntil(() => outcomes.size === 3, 'all reports ended');
    expect([...outcomes.values()]).to.deep.equal(['pending', 'pending', 'pending']);
    expect(server.puts()).to.deep.equal([]);
    expect(warningsWith(logs, { code: 'ERR_INVALID_PRESIGN_RESPONSE' }).map((entry) => entry.meta.error)).to.deep.equal([
      'invalid presign response: invalid uploadUrl ftp://127.0.0.1:1/upload in the presign response: scheme ftp: is not http or https; the telemetry server must return an https URL (or http to a loopback host)',
      'invalid presign response: header Cookie may not be set by the server',
      'invalid presign response: expiresIn must be a positive number of seconds',
    ]);
  });

  it('does not follow a PUT redirect', async () => {
    server.script('put', { kind: 'redirect', status: 307, location: '/elsewhere' });
    const submission = await writeLog(logDir, 'crash\n');
    const id = reportIdOf(logDir, submission);
    const engine = await startUploader();
    const outcomes = recordOutcomes(engine);
    engine.enqueue(submission);

    await waitUntil(() => outcomes.size === 1, 'the report ended');
    expect(outcomes.get(id)).to.equal('pending');
    expect(server.requests.map((request) => `${request.method} ${request.url.split('?')[0]}`)).to.deep.equal([
      'POST /telemetry/runner-log/presign',
      'PUT /uploads/1',
    ]);
    const [warning] = warningsWith(logs, { step: 'put', status: 307 });
    expect(warning.message).to.equal('telemetry upload failed, not retried in this run; report stays pending');
    expect(engine.outboxStore?.get(id)?.state).to.equal('pending');
  });

  it('presigns again after a PUT 403', async () => {
    server.script('put', { kind: 'status', status: 403, body: '<Error><Code>AccessDenied</Code></Error>' });
    const submission = await writeLog(logDir, 'crash\n');
    const id = reportIdOf(logDir, submission);
    const engine = await startUploader();
    const outcomes = recordOutcomes(engine);
    engine.enqueue(submission);

    await waitUntil(() => engine.stats().retried === 1, 'the retry is scheduled');
    await clock.tickAsync(0);
    await waitUntil(() => outcomes.size === 1, 'the report ended');
    expect(outcomes.get(id)).to.equal('delivered');
    expect(server.requests.map((request) => `${request.method} ${request.url.split('?')[0]}`)).to.deep.equal([
      'POST /telemetry/runner-log/presign',
      'PUT /uploads/1',
      'POST /telemetry/runner-log/presign',
      'PUT /uploads/2',
    ]);
    expect(engine.outboxStore?.get(id)?.attempts).to.equal(2);
  });

  it('retries a refused connection', async () => {
    const submission = await writeLog(logDir, 'crash\n');
    const engine = await startUploader({ apiUrl: await closedPortUrl(), maxAttemptsPerReport: 2 });
    const outcomes = recordOutcomes(engine);
    engine.enqueue(submission);

    await waitUntil(() => engine.stats().retried === 1, 'the retry is scheduled');
    await clock.tickAsync(500);
    await waitUntil(() => outcomes.size === 1, 'the report ended');
    expect(outcomes.get(reportIdOf(logDir, submission))).to.equal('pending');
    const refused = warningsWith(logs, { step: 'presign', code: 'ECONNREFUSED' });
    expect(refused.map((entry) => entry.message)).to.deep.equal([
      'telemetry upload failed, retrying',
      'telemetry upload failed, attempt budget spent; report stays pending',
    ]);
  });

  it('stops at the attempt budget', async () => {
    for (let index = 0; index < 10; index += 1) server.script('presign', { kind: 'status', status: 503 });
    const submission = await writeLog(logDir, 'crash\n');
    const engine = await startUploader({ maxAttemptsPerReport: 3 });
    const outcomes = recordOutcomes(engine);
    engine.enqueue(submission);

    await waitUntil(() => engine.stats().retried === 1, 'retry 1 is scheduled');
    await clock.tickAsync(500);
    await waitUntil(() => engine.stats().retried === 2, 'retry 2 is scheduled');
    await clock.tickAsync(1_000);
    await waitUntil(() => outcomes.size === 1, 'the report ended');
    await clock.tickAsync(60_000);
    await realSleep(30);

    expect(outcomes.get(reportIdOf(logDir, submission))).to.equal('pending');
    expect(server.presigns()).to.have.lengthOf(3);
    expect(engine.stats()).to.deep.include({ failed: 3, retried: 2, pending: 1 });
    expect(engine.outboxStore?.get(reportIdOf(logDir, submission))?.lastError).to.deep.include({ step: 'presign', status: 503 });
  });

  it('rejects a report for good', async () => {
    server.script('presign', { kind: 'status', status: 400, body: { error: 'sha256 must be 64 lowercase hex characters' } });
    const submission = await writeLog(logDir, 'crash\n');
    const id = reportIdOf(logDir, submission);
    const engine = await startUploader();
    const outcomes = recordOutcomes(engine);
    engine.enqueue(submission);

    await waitUntil(() => outcomes.size === 1, 'the report ended');
    expect(outcomes.get(id)).to.equal('rejected');
    expect(engine.outboxStore?.get(id)?.reason).to.equal('presign returned HTTP 400: {"error":"sha256 must be 64 lowercase hex characters"}');
    expect(engine.stats()).to.deep.include({ rejected: 1, retried: 0, pending: 0 });
    expect(server.presigns()).to.have.lengthOf(1);
  });

  it('holds reports on a presign 404', async () => {
    server.script('presign', { kind: 'status', status: 404 });
    const submission = await writeLog(logDir, 'crash\n');
    const engine = await startUploader();
    const outcomes = recordOutcomes(engine);
    engine.enqueue(submission);

    await waitUntil(() => outcomes.size === 1, 'the report ended');
    expect(outcomes.get(reportIdOf(logDir, submission))).to.equal('pending');
    expect(engine.stats()).to.deep.include({ rejected: 0, retried: 0, pending: 1 });
  });

  it('limits attempts per minute', async () => {
    const submissions = [await writeLog(logDir, 'a\n', 'r0'), await writeLog(logDir, 'b\n', 'r1'), await writeLog(logDir, 'c\n', 'r2')];
    const engine = await startUploader({ attemptsPerMinute: 2 });
    const outcomes = recordOutcomes(engine);
    for (const submission of submissions) engine.enqueue(submission);

    await waitUntil(() => outcomes.size === 2, 'two reports ended');
    await realSleep(30);
    expect(server.presigns()).to.have.lengthOf(2);
    await clock.tickAsync(59_999);
    await realSleep(30);
    expect(server.presigns()).to.have.lengthOf(2);
    await clock.tickAsync(1);
    await waitUntil(() => outcomes.size === 3, 'the third report ended');
    expect([...outcomes.values()]).to.deep.equal(['delivered', 'delivered', 'delivered']);
  });

  it('rate-limits repeated warnings', async () => {
    for (let index = 0; index < 8; index += 1) server.script('presign', { kind: 'status', status: 500 });
    const engine = await startUploader({ maxAttemptsPerReport: 1, attemptsPerMinute: 100 });
    const outcomes = recordOutcomes(engine);
    for (let index = 0; index < 7; index += 1) engine.enqueue(await writeLog(logDir, 'crash\n', `r${index}`));
    await waitUntil(() => outcomes.size === 7, 'seven reports ended');
    expect(warningsWith(logs, { step: 'presign', status: 500 })).to.have.lengthOf(5);

    await clock.tickAsync(60_000);
    engine.enqueue(await writeLog(logDir, 'crash\n', 'r7'));
    await waitUntil(() => outcomes.size === 8, 'the eighth report ended');
    const last = warningsWith(logs, { step: 'presign', status: 500 }).at(-1);
    expect(last?.meta.suppressedBefore).to.equal(2);
  });

  it('cancels retries on close', async () => {
    server.script('presign', { kind: 'status', status: 503 });
    const submission = await writeLog(logDir, 'crash\n');
    const engine = await startUploader();
    const outcomes = recordOutcomes(engine);
    engine.enqueue(submission);
    await waitUntil(() => engine.stats().retried === 1, 'the retry is scheduled');

    const closing = engine.close();
    await clock.tickAsync(0);
    await closing;
    await clock.tickAsync(60_000);
    await realSleep(30);
    expect(outcomes.get(reportIdOf(logDir, submission))).to.equal('pending');
    expect(server.presigns()).to.have.lengthOf(1);
  });

  it('requeues pending reports at a limited rate', async () => {
    server.script('presign', { kind: 'status', status: 503 }, { kind: 'status', status: 503 }, { kind: 'status', status: 503 });
    const first = await startUploader({ maxAttemptsPerReport: 1 });
    const ended = recordOutcomes(first);
    for (let index = 0; index < 3; index += 1) first.enqueue(await writeLog(logDir, `crash ${index}\n`, `r${index}`));
    await waitUntil(() => ended.size === 3, 'three reports ended pending');
    const closing = first.close();
    await clock.tickAsync(0);
    await closing;

    const second = await startUploader({ requeueIntervalMs: 1_000 });
    const outcomes = recordOutcomes(second);
    await realSleep(30);
    expect(server.presigns()).to.have.lengthOf(3);
    for (let count = 1; count <= 3; count += 1) {
      await clock.tickAsync(1_000);
      await waitUntil(() => outcomes.size === count, `requeued report ${count} ended`);
    }
    expect([...outcomes.values()]).to.deep.equal(['delivered', 'delivered', 'delivered']);
    expect(server.puts()).to.have.lengthOf(3);
  });
});
