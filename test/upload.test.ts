import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { expect } from 'chai';

import { outboxDir, payloadTempDir } from '../src/telemetry/outbox/layout.js';
import { Outbox } from '../src/telemetry/outbox/outbox.js';
import { entryFileName } from '../src/telemetry/outbox/report-id.js';
import type { RedactOptions } from '../src/telemetry/redact/options.js';
import type { Submission } from '../src/telemetry/submission.js';
import type { UploaderConfig } from '../src/telemetry/upload/config.js';
import { preparePayload } from '../src/telemetry/upload/prepare-payload.js';
import { ReportUploader, type ReportOutcome } from '../src/telemetry/upload/report-uploader.js';
import { uploadPending, type UploadProgress } from '../src/telemetry/upload/upload-pending.js';
import { captureLogger, type CapturedEntry } from './helpers/capture-logger.js';
import { RecordingServer } from './helpers/recording-server.js';
import { makeTempDir } from './helpers/temp-dir.js';

const MiB = 1024 * 1024;

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

let logCounter = 0;

/** Writes a runner log in the real layout and returns the submission the runner-end hook would make. */
async function writeLog(logDir: string, bytes: Buffer | string, ids: { instanceId?: string; runnerId?: string } = {}): Promise<Submission> {
  const instanceId = ids.instanceId ?? 'llama-8b';
  const runnerId = ids.runnerId ?? 'r0';
  logCounter += 1;
  const folder = path.join(logDir, 'runner_log', instanceId, runnerId);
  await fs.mkdir(folder, { recursive: true });
  const logPath = path.join(folder, `2026-05-28_14-03-07_${String(logCounter).padStart(6, '0')}Z.stderr.log`);
  await fs.writeFile(logPath, bytes);
  return {
    kind: 'runner-stderr',
    logPath,
    instanceId,
    runnerId,
    exitCode: 1,
    signal: null,
    diagnosticKinds: ['python.exception'],
    primaryCause: 'exit code 1: Python ValueError: bad shard',
    endedAtMs: Date.UTC(2026, 4, 28, 14, 3, 9),
  };
}

function reportIdOf(logDir: string, submission: Submission): string {
  return path.relative(path.join(logDir, 'runner_log'), submission.logPath).split(path.sep).join('/');
}

/** Resolves with the first outcome of `id`. Register it before the enqueue. */
function outcomeOf(uploader: ReportUploader, id: string): Promise<ReportOutcome> {
  return new Promise((resolve) => {
    const stop = uploader.onReportOutcome((endedId, outcome) => {
      if (endedId !== id) return;
      stop();
      resolve(outcome);
    });
  });
}

function warnings(entries: CapturedEntry[]): CapturedEntry[] {
  return entries.filter((entry) => entry.level === 'warn');
}

describe('ReportUploader transport', () => {
  let logDir: string;
  let removeDir: () => Promise<void>;
  let server: RecordingServer;
  let uploaders: ReportUploader[];
  let logs: CapturedEntry[];

  function createUploader(overrides: Partial<UploaderConfig> = {}): ReportUploader {
    const { logger, entries } = captureLogger();
    logs = entries;
    const uploader = new ReportUploader(
      { logDir, apiUrl: server.url, mode: 'upload', redact: false, timeoutMs: 5_000, requeueIntervalMs: 10, random: () => 0, ...overrides },
      logger,
    );
    uploaders.push(uploader);
    return uploader;
  }

  beforeEach(async () => {
    ({ dir: logDir, remove: removeDir } = await makeTempDir('exo-upload-'));
    server = await RecordingServer.start();
    uploaders = [];
  });

  afterEach(async () => {
    for (const uploader of uploaders) await uploader.close();
    await server.close();
    await removeDir();
    // Whatever happened in the test, a presigned URL's signature never reaches a log.
    expect(JSON.stringify(logs ?? [])).not.to.contain('secret-signature');
  });

  it('sends the exact contract requests', async () => {
    const bytes = Buffer.from('Traceback (most recent call last):\n  File "runner.py", line 3\nValueError: bad shard\n');
    const submission = await writeLog(logDir, bytes);
    const uploader = createUploader();
    await uploader.start();
    const outcome = outcomeOf(uploader, reportIdOf(logDir, submission));
    uploader.enqueue(submission);
    expect(await outcome).to.equal('delivered');

    expect(server.requests.map((request) => `${request.method} ${request.url.split('?')[0]}`)).to.deep.equal([
      'POST /telemetry/runner-log/presign',
      'PUT /uploads/1',
    ]);
    const [presign] = server.presignBodies();
    expect(presign.sha256).to.equal(sha256(bytes));
    expect(presign.size).to.equal(bytes.length);
    expect(presign.metadata).to.deep.include({
      kind: 'runner-stderr',
      instanceId: 'llama-8b',
      runnerId: 'r0',
      exitCode: 1,
      signal: null,
      primaryCause: 'exit code 1: Python ValueError: bad shard',
      truncated: false,
      originalSize: bytes.length,
      endedAt: '2026-05-28T14:03:09.000Z',
    });
    expect(presign.metadata.diagnosticKinds).to.deep.equal(['python.exception']);
    expect(presign.metadata.redaction).to.deep.equal({ enabled: false, counts: {} });
    expect((presign.metadata.versions as Record<string, string>).node).to.equal(process.version);

    const [put] = server.puts();
    expect(put.complete).to.equal(true);
    expect(put.body.equals(bytes)).to.equal(true);
    expect(put.headers['content-length']).to.equal(String(bytes.length));
    expect(put.headers['transfer-encoding']).to.equal(undefined);
    expect(put.headers['content-type']).to.equal('application/octet-stream');
    expect(put.headers.cookie).to.equal(undefined);
    expect(put.headers.authorization).to.equal(undefined);
    expect(put.url).to.contain('X-Signature=secret-signature-1');
  });

  it('marks the report delivered with its key', async () => {
    const bytes = Buffer.from('fatal error\n');
    const submission = await writeLog(logDir, bytes);
    const id = reportIdOf(logDir, submission);
    const uploader = createUploader();
    await uploader.start();
    const outcome = outcomeOf(uploader, id);
    uploader.enqueue(submission);
    await outcome;

    const entry = JSON.parse(await fs.readFile(path.join(outboxDir(logDir), entryFileName(id)), 'utf8'));
    expect(entry.state).to.equal('delivered');
    expect(entry.key).to.equal(`runner_log/${sha256(bytes).slice(0, 2)}/${sha256(bytes)}.stderr.log`);
    expect(entry.attempts).to.equal(1);
    expect(entry.payload).to.deep.include({ size: bytes.length, sha256: sha256(bytes), truncated: false });
    expect(uploader.stats()).to.deep.include({ received: 1, sent: 1, bytesSent: bytes.length, failed: 0, pending: 0, inFlight: 0 });
    expect(logs.some((log) => log.level === 'info' && log.message === 'telemetry report delivered' && log.meta.reportId === id)).to.equal(true);
  });

  it('records the outbox entry before presign', async () => {
    const submission = await writeLog(logDir, 'crash\n');
    const id = reportIdOf(logDir, submission);
    let stateAtPresign: string | undefined;
    server.script('presign', {
      kind: 'custom',
      handle: async (request, response) => {
        const stored = JSON.parse(await fs.readFile(path.join(outboxDir(logDir), entryFileName(id)), 'utf8'));
        stateAtPresign = stored.state;
        response.writeHead(503, { 'Content-Type': 'application/json' });
        response.end('{}');
      },
    });
    const uploader = createUploader({ maxAttemptsPerReport: 1 });
    await uploader.start();
    const outcome = outcomeOf(uploader, id);
    uploader.enqueue(submission);

    expect(await outcome).to.equal('pending');
    expect(stateAtPresign).to.equal('pending');
  });

  it('uploads a 20 MB log', async () => {
    const bytes = randomBytes(20 * MiB);
    const submission = await writeLog(logDir, bytes);
    const uploader = createUploader();
    await uploader.start();
    const outcome = outcomeOf(uploader, reportIdOf(logDir, submission));
    uploader.enqueue(submission);
    expect(await outcome).to.equal('delivered');

    const [put] = server.puts();
    expect(put.body.length).to.equal(20 * MiB);
    expect(put.sha256).to.equal(sha256(bytes));
    expect(put.headers['content-length']).to.equal(String(20 * MiB));
    expect(put.headers['transfer-encoding']).to.equal(undefined);
    expect(server.presignBodies()[0]).to.deep.include({ sha256: sha256(bytes), size: 20 * MiB });
  });

  it('makes no request for an empty log', async () => {
    const submission = await writeLog(logDir, '');
    const id = reportIdOf(logDir, submission);
    const uploader = createUploader();
    await uploader.start();
    const outcome = outcomeOf(uploader, id);
    uploader.enqueue(submission);

    expect(await outcome).to.equal('skipped');
    expect(server.requests).to.deep.equal([]);
    expect(server.connections).to.equal(0);
    expect((await Outbox.open(logDir, captureLogger().logger)).get(id)).to.deep.include({ state: 'skipped', reason: 'empty log' });
    expect(uploader.stats().skipped).to.equal(1);
  });

  it('sends the presign headers', async () => {
    const submission = await writeLog(logDir, 'crash\n');
    server.script('presign', { kind: 'presign-ok', headers: { 'x-amz-meta-source': 'exo', 'Content-Type': 'text/plain' } });
    const uploader = createUploader();
    await uploader.start();
    const outcome = outcomeOf(uploader, reportIdOf(logDir, submission));
    uploader.enqueue(submission);
    expect(await outcome).to.equal('delivered');

    const [put] = server.puts();
    expect(put.headers['x-amz-meta-source']).to.equal('exo');
    expect(put.headers['content-type']).to.equal('text/plain');
  });

  it('sends the last maxSize bytes', async () => {
    const bytes = Buffer.from(Array.from({ length: 400 }, (_, index) => `line ${index}\n`).join(''));
    const submission = await writeLog(logDir, bytes);
    server.script('presign', { kind: 'presign-ok', maxSize: 1000 });
    const uploader = createUploader();
    await uploader.start();
    const outcome = outcomeOf(uploader, reportIdOf(logDir, submission));
    uploader.enqueue(submission);
    expect(await outcome).to.equal('delivered');

    const tail = bytes.subarray(bytes.length - 1000);
    const [first, second] = server.presignBodies();
    expect(first.size).to.equal(bytes.length);
    expect(second).to.deep.include({ sha256: sha256(tail), size: 1000 });
    expect(second.metadata).to.deep.include({ truncated: true, originalSize: bytes.length });
    const [put] = server.puts();
    expect(put.body.equals(tail)).to.equal(true);
    expect(put.headers['content-length']).to.equal('1000');
  });

  it('cuts to the maxSize of a rejection', async () => {
    const bytes = randomBytes(5000);
    const submission = await writeLog(logDir, bytes);
    server.script('presign', { kind: 'status', status: 413, body: { error: 'size above the limit', maxSize: 2048 } });
    const uploader = createUploader();
    await uploader.start();
    const outcome = outcomeOf(uploader, reportIdOf(logDir, submission));
    uploader.enqueue(submission);
    expect(await outcome).to.equal('delivered');

    const tail = bytes.subarray(bytes.length - 2048);
    expect(server.presignBodies().map((body) => body.size)).to.deep.equal([5000, 2048]);
    expect(server.puts()[0].body.equals(tail)).to.equal(true);
  });

  it('presigns again before an expiring URL', async () => {
    const submission = await writeLog(logDir, 'crash\n');
    server.script('presign', { kind: 'presign-ok', expiresIn: 0.5 }, { kind: 'presign-ok', expiresIn: 300 });
    const uploader = createUploader();
    await uploader.start();
    const outcome = outcomeOf(uploader, reportIdOf(logDir, submission));
    uploader.enqueue(submission);
    expect(await outcome).to.equal('delivered');

    expect(server.presigns()).to.have.lengthOf(2);
    expect(server.puts().map((put) => put.url.split('?')[0])).to.deep.equal(['/uploads/2']);
  });

  it('hashes again after a change', async () => {
    const submission = await writeLog(logDir, 'first line\n');
    const changed = Buffer.from('first line\nsecond line, written late\n');
    server.script('presign', {
      kind: 'custom',
      handle: async (request, response) => {
        // The log grows between the hash and the PUT.
        await fs.writeFile(submission.logPath, changed);
        const announced = JSON.parse(request.body.toString('utf8'));
        response.writeHead(200, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify({ key: 'k', uploadUrl: `${server.url}/uploads/stale?X-Signature=secret-signature-0`, expiresIn: 300, maxSize: 1e6, announced }));
      },
    });
    const uploader = createUploader();
    await uploader.start();
    const outcome = outcomeOf(uploader, reportIdOf(logDir, submission));
    uploader.enqueue(submission);
    expect(await outcome).to.equal('delivered');

    const bodies = server.presignBodies();
    expect(bodies).to.have.lengthOf(2);
    expect(bodies[1]).to.deep.include({ sha256: sha256(changed), size: changed.length });
    const puts = server.puts();
    expect(puts).to.have.lengthOf(1);
    expect(puts[0].body.equals(changed)).to.equal(true);
  });

  it('never sends a differing complete body', async () => {
    const original = Buffer.alloc(MiB, 'A');
    const submission = await writeLog(logDir, original);
    // A whole-second mtime can be restored exactly, so only the streamed hash can notice the change.
    const fixedTime = new Date(Date.UTC(2026, 4, 28, 14, 3, 9));
    await fs.utimes(submission.logPath, fixedTime, fixedTime);
    server.script('presign', {
      kind: 'custom',
      handle: async (request, response) => {
        const swapped = Buffer.alloc(MiB, 'B');
        const handle = await fs.open(submission.logPath, 'r+');
        await handle.write(swapped, 0, swapped.length, 0);
        await handle.close();
        await fs.utimes(submission.logPath, fixedTime, fixedTime);
        response.writeHead(200, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify({ key: 'k', uploadUrl: `${server.url}/uploads/first?X-Signature=secret-signature-0`, expiresIn: 300, maxSize: 10 * MiB }));
      },
    });
    const uploader = createUploader({ backoff: { baseDelayMs: 1 } });
    await uploader.start();
    const outcome = outcomeOf(uploader, reportIdOf(logDir, submission));
    uploader.enqueue(submission);
    expect(await outcome).to.equal('delivered');

    // Each complete PUT carries the bytes announced by the presign before it.
    let announced: string | undefined;
    let incomplete = 0;
    for (const request of server.requests) {
      if (request.method === 'POST') announced = JSON.parse(request.body.toString('utf8')).sha256;
      if (request.method !== 'PUT') continue;
      if (!request.complete) {
        incomplete += 1;
        continue;
      }
      expect(request.sha256).to.equal(announced);
    }
    expect(incomplete).to.equal(1);
    expect(server.puts().filter((put) => put.complete)).to.have.lengthOf(1);
    expect(server.puts().find((put) => put.complete)?.body.equals(Buffer.alloc(MiB, 'B'))).to.equal(true);
    expect(warnings(logs).some((log) => log.meta.code === 'ERR_PAYLOAD_CHANGED' && log.meta.step === 'put')).to.equal(true);
  });

  it('removes payload copies', async () => {
    await fs.mkdir(payloadTempDir(logDir), { recursive: true });
    const stale = path.join(payloadTempDir(logDir), '999999999-0123456789abcdef.payload.tmp');
    await fs.writeFile(stale, 'left by a crash');
    const submission = await writeLog(logDir, 'crash at /home/alice/model.py\n');
    const uploader = createUploader({ redact: true, redactOptions: { userNames: [], hostNames: [] } });
    await uploader.start();
    expect(await fs.readdir(payloadTempDir(logDir))).to.deep.equal([]);

    const outcome = outcomeOf(uploader, reportIdOf(logDir, submission));
    uploader.enqueue(submission);
    expect(await outcome).to.equal('delivered');
    expect(await fs.readdir(payloadTempDir(logDir))).to.deep.equal([]);
  });
});

describe('ReportUploader redaction', () => {
  let logDir: string;
  let removeDir: () => Promise<void>;
  let server: RecordingServer;
  let uploader: ReportUploader | undefined;

  const redactOptions: RedactOptions = { userNames: ['alicesmith'], hostNames: ['gpu-box-17'] };
  const secretLog = [
    'loading /home/alicesmith/models/llama-8b on gpu-box-17',
    'HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyzABCDEF0123',
    'contact alice.smith@example.org from 192.168.10.24',
    'Traceback (most recent call last):',
    '  File "/home/alicesmith/exo/runner.py", line 12, in main',
    'RuntimeError: CUDA out of memory',
    '',
  ].join('\n');

  beforeEach(async () => {
    ({ dir: logDir, remove: removeDir } = await makeTempDir('exo-upload-redact-'));
    server = await RecordingServer.start();
    uploader = undefined;
  });

  afterEach(async () => {
    await uploader?.close();
    await server.close();
    await removeDir();
  });

  it('uploads only redacted bytes', async () => {
    const submission = await writeLog(logDir, secretLog);
    submission.primaryCause = 'exit code 1: RuntimeError at /home/alicesmith/exo/runner.py';
    const { logger } = captureLogger();
    uploader = new ReportUploader({ logDir, apiUrl: server.url, mode: 'upload', redact: true, redactOptions }, logger);
    await uploader.start();
    const outcome = outcomeOf(uploader, reportIdOf(logDir, submission));
    uploader.enqueue(submission);
    expect(await outcome).to.equal('delivered');

    const [put] = server.puts();
    const sent = put.body.toString('utf8');
    for (const secret of ['alicesmith', 'hf_abcdefghijklmnopqrstuvwxyzABCDEF0123', 'alice.smith@example.org', '192.168.10.24', 'gpu-box-17']) {
      expect(sent, secret).not.to.contain(secret);
    }
    expect(sent).to.contain('RuntimeError: CUDA out of memory');

    const [presign] = server.presignBodies();
    expect(presign.sha256).to.equal(put.sha256);
    expect(presign.size).to.equal(put.body.length);
    const redaction = presign.metadata.redaction as { enabled: boolean; counts: Record<string, number> };
    expect(redaction.enabled).to.equal(true);
    expect(Object.values(redaction.counts).reduce((sum, count) => sum + count, 0)).to.be.greaterThan(3);
    expect(presign.metadata.originalSize).to.equal(Buffer.byteLength(secretLog));
    expect(String(presign.metadata.primaryCause)).not.to.contain('alicesmith');
    expect(String(presign.metadata.primaryCause)).to.contain('RuntimeError');
    expect(await fs.readFile(submission.logPath, 'utf8')).to.equal(secretLog);
  });

  it('shows the bytes it would upload', async () => {
    const submission = await writeLog(logDir, secretLog);
    const { logger } = captureLogger();
    uploader = new ReportUploader({ logDir, apiUrl: server.url, mode: 'upload', redact: true, redactOptions }, logger);
    await uploader.start();

    const shown = await preparePayload(submission.logPath, { logDir, redact: true, redactOptions });
    const shownBytes = await fs.readFile(shown.file);
    await shown.dispose();
    expect(shownBytes.toString('utf8')).not.to.contain('alicesmith');

    const outcome = outcomeOf(uploader, reportIdOf(logDir, submission));
    uploader.enqueue(submission);
    expect(await outcome).to.equal('delivered');
    expect(server.puts()[0].body.equals(shownBytes)).to.equal(true);
    expect(server.presignBodies()[0].sha256).to.equal(shown.sha256);
    expect(server.requests).to.have.lengthOf(2);
  });
});

describe('ReportUploader paths', () => {
  let logDir: string;
  let outside: string;
  let removeDirs: Array<() => Promise<void>>;
  let server: RecordingServer;
  let uploader: ReportUploader;
  let logs: CapturedEntry[];

  beforeEach(async () => {
    const logTemp = await makeTempDir('exo-upload-paths-');
    const outsideTemp = await makeTempDir('exo-upload-outside-');
    logDir = logTemp.dir;
    outside = outsideTemp.dir;
    removeDirs = [logTemp.remove, outsideTemp.remove];
    server = await RecordingServer.start();
    const { logger, entries } = captureLogger();
    logs = entries;
    uploader = new ReportUploader({ logDir, apiUrl: server.url, mode: 'upload', redact: false }, logger);
    await uploader.start();
  });

  afterEach(async () => {
    await uploader.close();
    await server.close();
    for (const remove of removeDirs) await remove();
  });

  it('rejects a path outside runner_log', async () => {
    const secret = path.join(outside, 'id_rsa');
    await fs.writeFile(secret, 'PRIVATE KEY');
    const submission = await writeLog(logDir, 'crash\n');
    uploader.enqueue({ ...submission, logPath: secret });
    uploader.enqueue({ ...submission, logPath: path.join(logDir, 'runner_log', 'llama-8b', 'r0', '..', '..', '..', 'exo.log') });
    await uploader.drain(5_000);

    expect(server.requests).to.deep.equal([]);
    expect(uploader.stats().rejected).to.equal(2);
    const rejected = warnings(logs).filter((log) => log.message === 'telemetry submission rejected');
    expect(rejected).to.have.lengthOf(2);
    expect(rejected[0].meta).to.deep.include({ instanceId: 'llama-8b', runnerId: 'r0', step: 'path' });
  });

  it('rejects a log of another runner', async () => {
    const submission = await writeLog(logDir, 'crash\n', { runnerId: 'r1' });
    uploader.enqueue({ ...submission, runnerId: 'r0' });
    await uploader.drain(5_000);

    expect(server.requests).to.deep.equal([]);
    expect(uploader.stats().rejected).to.equal(1);
  });

  it('refuses a symlinked log file', async () => {
    const secret = path.join(outside, 'secret.txt');
    await fs.writeFile(secret, 'token=abc');
    const submission = await writeLog(logDir, 'placeholder');
    await fs.rm(submission.logPath);
    await fs.symlink(secret, submission.logPath);
    const id = reportIdOf(logDir, submission);
    const outcome = outcomeOf(uploader, id);
    uploader.enqueue(submission);

    expect(await outcome).to.equal('rejected');
    expect(server.requests).to.deep.equal([]);
    expect(uploader.outboxStore?.get(id)?.reason).to.contain('symlink');
    expect(warnings(logs).some((log) => log.message === 'telemetry report rejected' && log.meta.reportId === id)).to.equal(true);
  });

  it('refuses a symlinked runner folder', async () => {
    const realFolder = path.join(outside, 'r9');
    await fs.mkdir(realFolder);
    await fs.writeFile(path.join(realFolder, '2026-05-28_14-03-07_000001Z.stderr.log'), 'secret');
    await fs.mkdir(path.join(logDir, 'runner_log', 'llama-8b'), { recursive: true });
    await fs.symlink(realFolder, path.join(logDir, 'runner_log', 'llama-8b', 'r9'));
    const submission: Submission = {
      ...(await writeLog(logDir, 'unused')),
      runnerId: 'r9',
      logPath: path.join(logDir, 'runner_log', 'llama-8b', 'r9', '2026-05-28_14-03-07_000001Z.stderr.log'),
    };
    const outcome = outcomeOf(uploader, reportIdOf(logDir, submission));
    uploader.enqueue(submission);

    expect(await outcome).to.equal('rejected');
    expect(server.requests).to.deep.equal([]);
    expect(uploader.outboxStore?.get(reportIdOf(logDir, submission))?.reason).to.contain('r9 is a symlink');
  });

  it('marks a deleted log gone', async () => {
    const submission = await writeLog(logDir, 'crash\n');
    await fs.rm(submission.logPath);
    const id = reportIdOf(logDir, submission);
    const outcome = outcomeOf(uploader, id);
    uploader.enqueue(submission);

    expect(await outcome).to.equal('gone');
    expect(server.requests).to.deep.equal([]);
    expect(uploader.outboxStore?.get(id)?.state).to.equal('gone');
    const warning = warnings(logs).find((log) => log.message === 'telemetry log missing, report marked gone');
    expect(warning?.meta).to.deep.include({ instanceId: 'llama-8b', runnerId: 'r0', step: 'stat' });
  });
});

describe('ReportUploader dry-run', () => {
  it('opens no socket', async () => {
    const { dir: logDir, remove } = await makeTempDir('exo-upload-dry-');
    const server = await RecordingServer.start();
    const { logger, entries } = captureLogger();
    const uploader = new ReportUploader({ logDir, apiUrl: server.url, mode: 'dry-run', redact: false }, logger);
    try {
      const bytes = Buffer.from('Segmentation fault (core dumped)\n');
      const submission = await writeLog(logDir, bytes);
      const id = reportIdOf(logDir, submission);
      await uploader.start();
      const outcome = outcomeOf(uploader, id);
      uploader.enqueue(submission);

      expect(await outcome).to.equal('dry-run');
      expect(server.connections).to.equal(0);
      expect(server.requests).to.deep.equal([]);
      const line = entries.find((entry) => entry.message === 'telemetry dry-run: would upload');
      expect(line?.level).to.equal('info');
      expect(line?.meta).to.deep.include({ path: submission.logPath, size: bytes.length, sha256: sha256(bytes) });
      expect(uploader.outboxStore?.get(id)?.state).to.equal('dry-run');
      expect(uploader.stats().dryRun).to.equal(1);
    } finally {
      await uploader.close();
      await server.close();
      await remove();
    }
  });
});

describe('ReportUploader dry-run states', () => {
  it('records an empty log as skipped', async () => {
    const { dir: logDir, remove } = await makeTempDir('exo-upload-dry-empty-');
    const server = await RecordingServer.start();
    const uploader = new ReportUploader({ logDir, apiUrl: server.url, mode: 'dry-run', redact: true }, captureLogger().logger);
    try {
      const submission = await writeLog(logDir, '');
      const id = reportIdOf(logDir, submission);
      await uploader.start();
      const outcome = outcomeOf(uploader, id);
      uploader.enqueue(submission);

      expect(await outcome).to.equal('skipped');
      expect(uploader.outboxStore?.get(id)).to.deep.include({ state: 'skipped', reason: 'empty log' });
      expect(server.connections).to.equal(0);
    } finally {
      await uploader.close();
      await server.close();
      await remove();
    }
  });
});

describe('ReportUploader outbox across restarts', () => {
  let logDir: string;
  let removeDir: () => Promise<void>;
  let server: RecordingServer;

  beforeEach(async () => {
    ({ dir: logDir, remove: removeDir } = await makeTempDir('exo-upload-restart-'));
    server = await RecordingServer.start();
  });

  afterEach(async () => {
    await server.close();
    await removeDir();
  });

  function config(overrides: Partial<UploaderConfig> = {}): UploaderConfig {
    return { logDir, apiUrl: server.url, mode: 'upload', redact: false, requeueIntervalMs: 10, ...overrides };
  }

  it('never re-sends a delivered report', async () => {
    const submission = await writeLog(logDir, 'crash\n');
    const id = reportIdOf(logDir, submission);

    const first = new ReportUploader(config(), captureLogger().logger);
    await first.start();
    const delivered = outcomeOf(first, id);
    first.enqueue(submission);
    expect(await delivered).to.equal('delivered');
    await first.close();
    expect(server.requests).to.have.lengthOf(2);

    const second = new ReportUploader(config(), captureLogger().logger);
    await second.start();
    const again = outcomeOf(second, id);
    second.enqueue(submission);
    expect(await again).to.equal('delivered');
    await second.drain(1_000);
    await second.close();

    expect(server.requests).to.have.lengthOf(2);
    expect(second.stats()).to.deep.include({ received: 1, sent: 0, skipped: 1 });
  });

  it('re-sends a pending report once', async () => {
    const bytes = Buffer.from('Fatal Python error: Segmentation fault\n');
    const submission = await writeLog(logDir, bytes);
    const id = reportIdOf(logDir, submission);
    server.script('presign', { kind: 'status', status: 503 });

    const first = new ReportUploader(config({ maxAttemptsPerReport: 1 }), captureLogger().logger);
    await first.start();
    const pending = outcomeOf(first, id);
    first.enqueue(submission);
    expect(await pending).to.equal('pending');
    await first.close();
    expect(server.puts()).to.deep.equal([]);

    const { logger, entries } = captureLogger();
    const second = new ReportUploader(config(), logger);
    const delivered = outcomeOf(second, id);
    await second.start();
    expect(entries.some((entry) => entry.message === 'telemetry pending reports queued again in the background' && entry.meta.pending === 1)).to.equal(true);
    expect(await delivered).to.equal('delivered');
    await second.close();

    const third = new ReportUploader(config(), captureLogger().logger);
    await third.start();
    third.enqueue(submission);
    await third.drain(1_000);
    await third.close();

    const puts = server.puts();
    expect(puts).to.have.lengthOf(1);
    expect(puts[0].body.equals(bytes)).to.equal(true);
    expect(server.presigns()).to.have.lengthOf(2);
    expect((await Outbox.open(logDir, captureLogger().logger)).get(id)).to.deep.include({ state: 'delivered', attempts: 2 });
  });

  it('uploads pending reports on request', async () => {
    const first = await writeLog(logDir, 'first crash\n');
    const second = await writeLog(logDir, 'second crash\n', { runnerId: 'r1' });
    server.script('presign', { kind: 'status', status: 503 }, { kind: 'status', status: 503 });
    const node = new ReportUploader(config({ maxAttemptsPerReport: 1 }), captureLogger().logger);
    await node.start();
    const ended = Promise.all([outcomeOf(node, reportIdOf(logDir, first)), outcomeOf(node, reportIdOf(logDir, second))]);
    node.enqueue(first);
    node.enqueue(second);
    expect(await ended).to.deep.equal(['pending', 'pending']);
    await node.close();

    const progress: UploadProgress[] = [];
    const results = await uploadPending(config(), [first.logPath], captureLogger().logger, (step) => progress.push(step));
    expect(results.map((result) => [result.id, result.outcome])).to.deep.equal([[reportIdOf(logDir, first), 'delivered']]);
    expect(progress).to.deep.equal(results);
    expect(server.puts()).to.have.lengthOf(1);

    const rest = await uploadPending(config(), 'all', captureLogger().logger);
    expect(rest.map((result) => [result.id, result.outcome])).to.deep.equal([[reportIdOf(logDir, second), 'delivered']]);
    const none = await uploadPending(config(), [first.logPath], captureLogger().logger);
    expect(none.map((result) => result.outcome)).to.deep.equal(['delivered']);
    expect(server.puts()).to.have.lengthOf(2);
  });

  it('drops submissions after close', async () => {
    const submission = await writeLog(logDir, 'crash\n');
    const uploader = new ReportUploader(config(), captureLogger().logger);
    await uploader.start();
    await uploader.close();
    await uploader.close();

    expect(() => uploader.enqueue(submission)).not.to.throw();
    expect(uploader.hasCapacity()).to.equal(false);
    expect(uploader.stats()).to.deep.include({ dropped: 1, received: 0 });
    expect(server.requests).to.deep.equal([]);
  });
});
