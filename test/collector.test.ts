import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';

import { expect } from 'chai';
import sinon from 'sinon';

import { startCollector, type Collector, type CollectorOptions } from '../src/collector/server.js';
import { GENERATED_SECRET_FILE } from '../src/collector/secret.js';
import { createLogger, type Logger } from '../src/log/logger.js';
import { errorCode } from '../src/errors.js';

interface LogEntry {
  level: string;
  message: string;
  [field: string]: unknown;
}

interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** Creates a real winston logger whose JSON lines land in `entries`. */
function captureLogger(): { logger: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const consoleStream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      entries.push(JSON.parse(chunk.toString()) as LogEntry);
      callback();
    },
  });
  return { logger: createLogger({ verbosity: 2, format: 'json', consoleStream }), entries };
}

/** Polls `entries` with real timers until one matches. Only Date is ever faked in these tests. */
async function waitForLog(entries: LogEntry[], matches: (entry: LogEntry) => boolean, timeoutMs = 3000): Promise<LogEntry> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const found = entries.find(matches);
    if (found !== undefined) return found;
    if (performance.now() > deadline) {
      throw new Error(`no matching log entry within ${timeoutMs} ms; entries: ${JSON.stringify(entries)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function sha256Of(bytes: Buffer): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: Buffer.from(text) });
}

/**
 * Sends one request with node:http, which leaves Content-Length and chunked framing
 * to the caller. `chunks` are sent with chunked transfer encoding; `headersOnly`
 * sends no body and takes the response the server gives on the headers alone.
 */
function request(
  url: string,
  options: { method: string; headers?: Record<string, string>; body?: Buffer; chunks?: Buffer[]; headersOnly?: boolean; agent?: http.Agent },
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined && headers['content-length'] === undefined) {
      headers['content-length'] = String(options.body.length);
    }
    const outgoing = http.request(url, { method: options.method, headers, agent: options.agent ?? false }, (response) => {
      const parts: Buffer[] = [];
      response.on('data', (part: Buffer) => parts.push(part));
      response.on('end', () => {
        const text = Buffer.concat(parts).toString();
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) });
        outgoing.destroy();
      });
    });
    // The server may close the connection while a rejected body is still being sent.
    outgoing.on('error', (error) => {
      if (!['EPIPE', 'ECONNRESET'].includes(errorCode(error) ?? '')) reject(error);
    });

    if (options.headersOnly === true) {
      outgoing.flushHeaders();
    } else if (options.chunks !== undefined) {
      for (const chunk of options.chunks) outgoing.write(chunk);
      outgoing.end();
    } else {
      outgoing.end(options.body);
    }
  });
}

/** Sends a request line and headers over a raw socket, for framing node:http will not produce. */
function rawRequest(url: string, head: string): Promise<{ status: number; text: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(target.port), target.hostname);
    const parts: Buffer[] = [];
    socket.on('data', (part: Buffer) => parts.push(part));
    socket.on('end', () => {
      const text = Buffer.concat(parts).toString();
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
    });
    socket.on('error', reject);
    socket.write(`${head.replace('PATH', `${target.pathname}${target.search}`)}\r\nHost: ${target.host}\r\nConnection: close\r\n\r\n`);
  });
}

/** Lists every file under `dir`, relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const names = await fs.readdir(dir, { recursive: true });
  const files: string[] = [];
  for (const name of names) {
    if ((await fs.stat(path.join(dir, name))).isFile()) files.push(name.split(path.sep).join('/'));
  }
  return files.sort();
}

/** Lists the files of stored reports and partial uploads: everything but the secret. */
async function storedFiles(storeDir: string): Promise<string[]> {
  return (await filesUnder(storeDir)).filter((name) => name !== GENERATED_SECRET_FILE);
}

/** Replaces the token part of an upload URL. */
function withToken(uploadUrl: string, token: string): string {
  return `${uploadUrl.slice(0, uploadUrl.lastIndexOf('/') + 1)}${token}`;
}

function tokenOf(uploadUrl: string): { claims: Buffer; mac: Buffer } {
  const [claims, mac] = uploadUrl.slice(uploadUrl.lastIndexOf('/') + 1).split('.');
  return { claims: Buffer.from(claims, 'base64url'), mac: Buffer.from(mac, 'base64url') };
}

function formatToken(token: { claims: Buffer; mac: Buffer }): string {
  return `${token.claims.toString('base64url')}.${token.mac.toString('base64url')}`;
}

const TEST_SECRET = Buffer.from('0123456789abcdef0123456789abcdef-test-secret');
const CRASH_LOG = Buffer.concat([
  Buffer.from('Traceback (most recent call last):\n  File "runner.py", line 3, in <module>\nValueError: shard 2 missing\n'),
  // Runner stderr is bytes, not text: a stray invalid UTF-8 byte must survive unchanged.
  Buffer.from([0xff, 0xfe, 0x0a]),
]);

describe('collector', () => {
  let storeDir: string;
  /** The collector started last. */
  let collector: Collector;
  let started: Collector[];
  let entries: LogEntry[];

  async function start(options: Partial<CollectorOptions> = {}): Promise<Collector> {
    const capture = captureLogger();
    entries = capture.entries;
    collector = await startCollector({ port: 0, storeDir, secret: TEST_SECRET, logger: capture.logger, ...options });
    started.push(collector);
    return collector;
  }

  async function presign(body: unknown): Promise<HttpResult> {
    return postJson(`${collector.url}/telemetry/runner-log/presign`, body);
  }

  /** Presigns `bytes` and returns the upload URL. */
  async function uploadUrlFor(bytes: Buffer, metadata?: Record<string, unknown>): Promise<string> {
    const response = await presign({ sha256: sha256Of(bytes), size: bytes.length, metadata });
    expect(response.status).to.equal(200);
    return response.body.uploadUrl as string;
  }

  async function put(uploadUrl: string, bytes: Buffer, headers: Record<string, string> = {}): Promise<HttpResult> {
    return request(uploadUrl, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...headers }, body: bytes });
  }

  beforeEach(async () => {
    storeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-test-'));
    started = [];
  });

  afterEach(async () => {
    await Promise.all(started.map((each) => each.close()));
    await fs.rm(storeDir, { recursive: true, force: true });
  });

  describe('start', () => {
    it('logs the URL it listens on', async () => {
      await start();

      expect(collector.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      const listening = await waitForLog(entries, (entry) => entry.message === 'collector listening');
      expect(listening.level).to.equal('info');
      expect(listening.url).to.equal(collector.url);
    });

    it('answers the health check', async () => {
      await start();

      const response = await request(`${collector.url}/healthz`, { method: 'GET' });

      expect(response.status).to.equal(200);
      expect(response.body).to.deep.equal({ status: 'ok' });
    });

    it('closes idempotently', async () => {
      await start();

      await Promise.all([collector.close(), collector.close()]);
      await collector.close();

      const stopped = entries.filter((entry) => entry.message === 'collector stopped');
      expect(stopped).to.have.length(1);
    });

    it('rejects a port in use', async () => {
      const first = await start();
      const capture = captureLogger();
      const otherStore = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-test-'));

      try {
        await startCollector({ port: first.port, storeDir: otherStore, secret: TEST_SECRET, logger: capture.logger });
        expect.fail('a second collector started on a port in use');
      } catch (error) {
        expect(errorCode(error)).to.equal('ERR_COLLECTOR_LISTEN');
        expect((error as Error).message).to.contain(`127.0.0.1:${first.port}`);
        expect((error as Error).message).to.contain('choose another --port');
      } finally {
        await fs.rm(otherStore, { recursive: true, force: true });
      }
    });
  });

  describe('presign', () => {
    it('returns a single upload URL', async () => {
      await start({ tokenTtlSeconds: 120, maxSizeBytes: 4096 });
      const sha256 = sha256Of(CRASH_LOG);

      const response = await presign({ sha256, size: CRASH_LOG.length });

      expect(response.status).to.equal(200);
      expect(response.body.key).to.equal(`runner_log/${sha256.slice(0, 2)}/${sha256}.stderr.log`);
      expect(response.body.uploadUrl).to.match(new RegExp(`^${collector.url}/uploads/[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$`));
      expect(response.body.expiresIn).to.equal(120);
      expect(response.body.maxSize).to.equal(4096);
    });

    it('builds upload URLs on the public URL', async () => {
      await start({ publicUrl: 'https://telemetry.example.org/exo/' });

      const response = await presign({ sha256: sha256Of(CRASH_LOG), size: CRASH_LOG.length });

      expect(response.body.uploadUrl).to.match(/^https:\/\/telemetry\.example\.org\/exo\/uploads\/[^/]+$/);
    });

    it('ignores unknown top-level fields', async () => {
      await start();

      const response = await presign({ sha256: sha256Of(CRASH_LOG), size: CRASH_LOG.length, client: 'exo 1.0' });

      expect(response.status).to.equal(200);
    });

    it('rejects invalid fields naming them', async () => {
      await start({ maxSizeBytes: 1000 });
      const sha256 = sha256Of(CRASH_LOG);
      const cases: Array<{ body: unknown; field: string }> = [
        { body: { size: 10 }, field: 'sha256' },
        { body: { sha256: sha256.toUpperCase(), size: 10 }, field: 'sha256' },
        { body: { sha256: sha256.slice(1), size: 10 }, field: 'sha256' },
        { body: { sha256: `${sha256.slice(1)}g`, size: 10 }, field: 'sha256' },
        { body: { sha256: 42, size: 10 }, field: 'sha256' },
        { body: { sha256 }, field: 'size' },
        { body: { sha256, size: 0 }, field: 'size' },
        { body: { sha256, size: -5 }, field: 'size' },
        { body: { sha256, size: 1.5 }, field: 'size' },
        { body: { sha256, size: '10' }, field: 'size' },
        { body: { sha256, size: 1001 }, field: 'size' },
        { body: { sha256, size: 10, metadata: [1, 2] }, field: 'metadata' },
        { body: { sha256, size: 10, metadata: 'exit code 1' }, field: 'metadata' },
        { body: { sha256, size: 10, metadata: { stderrTail: 'x'.repeat(17 * 1024) } }, field: 'metadata' },
        { body: [sha256, 10], field: 'body' },
        { body: 'null', field: 'body' },
      ];

      for (const { body, field } of cases) {
        const response = await presign(body);
        const label = JSON.stringify(body).slice(0, 80);
        expect(response.status, label).to.equal(400);
        expect(response.body.field, label).to.equal(field);
        expect(response.body.error, label).to.equal('ERR_INVALID_PRESIGN_REQUEST');
        expect(response.body.message, label).to.contain(`invalid ${field}`);
      }
    });

    it('logs a rejection with its reason', async () => {
      await start();

      await presign({ sha256: 'not a hash', size: 10 });

      const warning = await waitForLog(entries, (entry) => entry.message === 'request rejected');
      expect(warning.level).to.equal('warn');
      expect(warning.reason).to.equal('ERR_INVALID_PRESIGN_REQUEST');
      expect(warning.status).to.equal(400);
      expect(warning.ip).to.equal('127.0.0.1');
    });

    it('rejects malformed JSON', async () => {
      await start();

      const response = await postJson(`${collector.url}/telemetry/runner-log/presign`, '{"sha256": ');

      expect(response.status).to.equal(400);
      expect(response.body.field).to.equal('body');
    });

    it('rejects a body over its limit', async () => {
      await start();
      const body = { sha256: sha256Of(CRASH_LOG), size: 10, metadata: { padding: 'x'.repeat(40 * 1024) } };

      const response = await presign(body);

      expect(response.status).to.equal(413);
      expect(response.body.error).to.equal('FST_ERR_CTP_BODY_TOO_LARGE');
    });

    it('rejects flooding with 429', async () => {
      await start({ presignRateLimit: 3 });
      const body = { sha256: sha256Of(CRASH_LOG), size: CRASH_LOG.length };

      const statuses: number[] = [];
      let limited: HttpResult | undefined;
      for (let attempt = 0; attempt < 5; attempt += 1) {
        const response = await presign(body);
        statuses.push(response.status);
        if (response.status === 429) limited ??= response;
      }

      expect(statuses).to.deep.equal([200, 200, 200, 429, 429]);
      expect(Number(limited?.headers['retry-after'])).to.be.within(1, 60);
      expect(limited?.body.error).to.equal('ERR_RATE_LIMITED');
      const warning = await waitForLog(entries, (entry) => entry.reason === 'ERR_RATE_LIMITED');
      expect(warning.status).to.equal(429);
    });

    it('sends no CORS headers', async () => {
      await start();
      const origin = { origin: 'https://evil.example' };

      const preflight = await request(`${collector.url}/telemetry/runner-log/presign`, {
        method: 'OPTIONS',
        headers: { ...origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
      const post = await postJson(`${collector.url}/telemetry/runner-log/presign`, { sha256: sha256Of(CRASH_LOG), size: 10 }, origin);
      const listing = await request(`${collector.url}/telemetry/runner-log`, { method: 'GET', headers: origin });

      expect(post.status).to.equal(200);
      for (const response of [preflight, post, listing]) {
        expect(Object.keys(response.headers).filter((name) => name.startsWith('access-control-'))).to.deep.equal([]);
      }
    });
  });

  describe('upload', () => {
    it('stores exact bytes under their SHA-256', async () => {
      await start();
      const sha256 = sha256Of(CRASH_LOG);
      const uploadUrl = await uploadUrlFor(CRASH_LOG, { exitCode: 1, instanceId: 'inst-1' });

      const response = await put(uploadUrl, CRASH_LOG);

      expect(response.status).to.equal(200);
      expect(response.body).to.deep.equal({ key: `runner_log/${sha256.slice(0, 2)}/${sha256}.stderr.log`, sha256, size: CRASH_LOG.length, duplicate: false });
      const stored = await fs.readFile(path.join(storeDir, 'runner_log', sha256.slice(0, 2), `${sha256}.stderr.log`));
      expect(stored.equals(CRASH_LOG)).to.equal(true);
      const metadata = JSON.parse(await fs.readFile(path.join(storeDir, 'runner_log', sha256.slice(0, 2), `${sha256}.json`), 'utf8')) as Record<string, unknown>;
      expect(metadata.sha256).to.equal(sha256);
      expect(metadata.size).to.equal(CRASH_LOG.length);
      expect(metadata.metadata).to.deep.equal({ exitCode: 1, instanceId: 'inst-1' });
      expect(Date.parse(metadata.receivedAt as string)).to.be.closeTo(Date.now(), 60_000);
      expect(await filesUnder(path.join(storeDir, 'tmp'))).to.deep.equal([]);
    });

    it('streams any content type raw', async () => {
      await start();
      const contentTypes = [undefined, 'application/json', 'text/plain; charset=utf-8', 'application/x-ndjson'];

      for (const [index, contentType] of contentTypes.entries()) {
        const bytes = Buffer.from(`{"not": "parsed", "upload": ${index}}\n`);
        const uploadUrl = await uploadUrlFor(bytes);
        const headers: Record<string, string> = contentType === undefined ? {} : { 'content-type': contentType };

        const response = await request(uploadUrl, { method: 'PUT', headers, body: bytes });

        expect(response.status, String(contentType)).to.equal(200);
        const stored = await fs.readFile(path.join(storeDir, response.body.key as string));
        expect(stored.equals(bytes), String(contentType)).to.equal(true);
      }
    });

    it('logs each report received', async () => {
      await start();
      const sha256 = sha256Of(CRASH_LOG);

      await put(await uploadUrlFor(CRASH_LOG), CRASH_LOG);

      const received = await waitForLog(entries, (entry) => entry.message === 'report received');
      expect(received.level).to.equal('info');
      expect(received.key).to.equal(`runner_log/${sha256.slice(0, 2)}/${sha256}.stderr.log`);
      expect(received.size).to.equal(CRASH_LOG.length);
      expect(received.sha256).to.equal(sha256.slice(0, 12));
    });

    it('rejects wrong bytes leaving nothing', async () => {
      await start();
      const uploadUrl = await uploadUrlFor(CRASH_LOG);
      const tampered = Buffer.from(CRASH_LOG);
      tampered[0] ^= 0x01;

      const response = await put(uploadUrl, tampered);

      expect(response.status).to.equal(400);
      expect(response.body.error).to.equal('ERR_SHA256_MISMATCH');
      expect(await storedFiles(storeDir)).to.deep.equal([]);
      const warning = await waitForLog(entries, (entry) => entry.message === 'request rejected');
      expect(warning.reason).to.equal('ERR_SHA256_MISMATCH');
    });

    it('consumes the token of mismatched bytes', async () => {
      await start();
      const uploadUrl = await uploadUrlFor(CRASH_LOG);
      const tampered = Buffer.alloc(CRASH_LOG.length, 0x41);

      await put(uploadUrl, tampered);
      const retry = await put(uploadUrl, CRASH_LOG);

      expect(retry.status).to.equal(409);
    });

    it('rejects a wrong Content-Length', async () => {
      await start();
      const uploadUrl = await uploadUrlFor(CRASH_LOG);

      const longer = await put(uploadUrl, Buffer.concat([CRASH_LOG, Buffer.from('x')]));
      const shorter = await put(uploadUrl, CRASH_LOG.subarray(1));
      const empty = await put(uploadUrl, Buffer.alloc(0));

      for (const response of [longer, shorter, empty]) {
        expect(response.status).to.equal(400);
        expect(response.body.error).to.equal('ERR_CONTENT_LENGTH_MISMATCH');
      }
      expect(await storedFiles(storeDir)).to.deep.equal([]);
    });

    it('keeps the token after header rejections', async () => {
      await start();
      const uploadUrl = await uploadUrlFor(CRASH_LOG);

      await put(uploadUrl, CRASH_LOG.subarray(1));
      const response = await put(uploadUrl, CRASH_LOG);

      expect(response.status).to.equal(200);
    });

    it('rejects a reused token', async () => {
      await start();
      const uploadUrl = await uploadUrlFor(CRASH_LOG);

      const first = await put(uploadUrl, CRASH_LOG);
      const second = await put(uploadUrl, CRASH_LOG);

      expect(first.status).to.equal(200);
      expect(second.status).to.equal(409);
      expect(second.body.error).to.equal('ERR_UPLOAD_TOKEN_USED');
    });

    it('rejects forged tokens', async () => {
      await start();
      const uploadUrl = await uploadUrlFor(CRASH_LOG);
      const genuine = tokenOf(uploadUrl);

      const flippedMac = { claims: genuine.claims, mac: Buffer.from(genuine.mac) };
      flippedMac.mac[5] ^= 0x20;
      const largerSize = { claims: Buffer.from(genuine.claims), mac: genuine.mac };
      // Bytes 9 to 16 of the claims hold the bound size, big-endian.
      largerSize.claims.writeBigUInt64BE(BigInt(CRASH_LOG.length + 1), 9);
      const otherSha256 = { claims: Buffer.from(genuine.claims), mac: genuine.mac };
      Buffer.from(sha256Of(Buffer.from('other bytes')), 'hex').copy(otherSha256.claims, 17);
      const otherSecret = { claims: genuine.claims, mac: crypto.createHmac('sha256', Buffer.alloc(32, 7)).update(genuine.claims).digest() };
      const forgedUrls = [
        withToken(uploadUrl, formatToken(flippedMac)),
        withToken(uploadUrl, formatToken(largerSize)),
        withToken(uploadUrl, formatToken(otherSha256)),
        withToken(uploadUrl, formatToken(otherSecret)),
        withToken(uploadUrl, `${formatToken(genuine)}A`),
        withToken(uploadUrl, formatToken(genuine).replace('.', '')),
        withToken(uploadUrl, 'not-a-token'),
      ];

      for (const forgedUrl of forgedUrls) {
        const response = await put(forgedUrl, CRASH_LOG);
        expect(response.status, forgedUrl).to.equal(403);
        expect(response.body.error, forgedUrl).to.equal('ERR_UPLOAD_TOKEN_INVALID');
      }
      const upload = await put(uploadUrl, CRASH_LOG);
      expect(upload.status).to.equal(200);
    });

    it('rejects a body over max size', async () => {
      await start({ maxSizeBytes: 1024 });
      const bytes = crypto.randomBytes(1024);
      const uploadUrl = await uploadUrlFor(bytes);

      // A keep-alive client, so that only the server can decide to close the connection.
      const agent = new http.Agent({ keepAlive: true });
      const response = await request(uploadUrl, { method: 'PUT', headers: { 'content-length': String(64 * 1024 * 1024) }, headersOnly: true, agent });
      agent.destroy();

      expect(response.status).to.equal(413);
      expect(response.body.error).to.equal('ERR_BODY_TOO_LARGE');
      expect(response.headers.connection).to.equal('close');
      expect(await storedFiles(storeDir)).to.deep.equal([]);
    });

    it('rejects chunked transfer encoding', async () => {
      await start();
      const uploadUrl = await uploadUrlFor(CRASH_LOG);

      const response = await request(uploadUrl, { method: 'PUT', chunks: [CRASH_LOG.subarray(0, 10), CRASH_LOG.subarray(10)] });

      expect(response.status).to.equal(411);
      expect(response.body.error).to.equal('ERR_CHUNKED_UPLOAD');
      expect(await storedFiles(storeDir)).to.deep.equal([]);
    });

    it('rejects a missing Content-Length', async () => {
      await start();
      const uploadUrl = await uploadUrlFor(CRASH_LOG);

      const response = await rawRequest(uploadUrl, 'PUT PATH HTTP/1.1');

      expect(response.status).to.equal(411);
      expect(response.text).to.contain('ERR_CONTENT_LENGTH_MISSING');
    });

    it('removes a partial upload on abort', async () => {
      await start();
      const bytes = crypto.randomBytes(256 * 1024);
      const uploadUrl = await uploadUrlFor(bytes);

      const outgoing = http.request(uploadUrl, { method: 'PUT', headers: { 'content-length': String(bytes.length) }, agent: false });
      outgoing.on('error', () => undefined);
      outgoing.write(bytes.subarray(0, 64 * 1024));
      await waitForPartialUpload(path.join(storeDir, 'tmp'));
      outgoing.destroy();

      const warning = await waitForLog(entries, (entry) => entry.reason === 'ERR_UPLOAD_INCOMPLETE');
      expect(warning.level).to.equal('warn');
      expect(await storedFiles(storeDir)).to.deep.equal([]);
    });

    it('removes uploads in flight on close', async () => {
      await start();
      const bytes = crypto.randomBytes(256 * 1024);
      const uploadUrl = await uploadUrlFor(bytes);

      const outgoing = http.request(uploadUrl, { method: 'PUT', headers: { 'content-length': String(bytes.length) }, agent: false });
      outgoing.on('error', () => undefined);
      outgoing.write(bytes.subarray(0, 64 * 1024));
      await waitForPartialUpload(path.join(storeDir, 'tmp'));
      await collector.close();

      expect(await storedFiles(storeDir)).to.deep.equal([]);
      outgoing.destroy();
    });

    it('stores equal bytes once', async () => {
      await start();
      const sha256 = sha256Of(CRASH_LOG);
      const firstUrl = await uploadUrlFor(CRASH_LOG, { runnerId: 'first' });
      const secondUrl = await uploadUrlFor(CRASH_LOG, { runnerId: 'second' });

      const first = await put(firstUrl, CRASH_LOG);
      const second = await put(secondUrl, CRASH_LOG);

      expect(first.status).to.equal(200);
      expect(first.body.duplicate).to.equal(false);
      expect(second.status).to.equal(200);
      expect(second.body.duplicate).to.equal(true);
      expect(await storedFiles(storeDir)).to.deep.equal([`runner_log/${sha256.slice(0, 2)}/${sha256}.json`, `runner_log/${sha256.slice(0, 2)}/${sha256}.stderr.log`]);
      const listing = await request(`${collector.url}/telemetry/runner-log`, { method: 'GET' });
      const reports = listing.body.reports as Array<Record<string, unknown>>;
      expect(reports).to.have.length(1);
      expect(reports[0].metadata).to.deep.equal({ runnerId: 'first' });
      expect(reports[0].repeatCount).to.equal(1);
    });

    it('stores concurrent equal uploads once', async () => {
      await start();
      const bytes = crypto.randomBytes(512 * 1024);
      const urls = await Promise.all([uploadUrlFor(bytes), uploadUrlFor(bytes), uploadUrlFor(bytes)]);

      const responses = await Promise.all(urls.map((url) => put(url, bytes)));

      expect(responses.map((response) => response.status)).to.deep.equal([200, 200, 200]);
      expect(responses.filter((response) => response.body.duplicate === false)).to.have.length(1);
      expect((await storedFiles(storeDir)).filter((name) => name.endsWith('.stderr.log'))).to.have.length(1);
      expect(await filesUnder(path.join(storeDir, 'tmp'))).to.deep.equal([]);
    });
  });

  describe('upload token expiry', () => {
    let clock: sinon.SinonFakeTimers;

    beforeEach(() => {
      // Only Date: the server's sockets and timers keep running for real.
      clock = sinon.useFakeTimers({ now: Date.now(), toFake: ['Date'] });
    });

    afterEach(() => {
      clock.restore();
    });

    it('rejects an expired token', async () => {
      await start({ tokenTtlSeconds: 60 });
      const uploadUrl = await uploadUrlFor(CRASH_LOG);

      clock.tick(60_000 + 1);
      const response = await put(uploadUrl, CRASH_LOG);

      expect(response.status).to.equal(410);
      expect(response.body.error).to.equal('ERR_UPLOAD_TOKEN_EXPIRED');
      expect(await storedFiles(storeDir)).to.deep.equal([]);
    });

    it('accepts a token at its expiry', async () => {
      await start({ tokenTtlSeconds: 60 });
      const uploadUrl = await uploadUrlFor(CRASH_LOG);

      clock.tick(60_000);
      const response = await put(uploadUrl, CRASH_LOG);

      expect(response.status).to.equal(200);
    });
  });

  describe('listing', () => {
    let clock: sinon.SinonFakeTimers;

    beforeEach(() => {
      clock = sinon.useFakeTimers({ now: Date.parse('2026-05-28T14:00:00Z'), toFake: ['Date'] });
    });

    afterEach(() => {
      clock.restore();
    });

    async function storeReport(text: string): Promise<string> {
      const bytes = Buffer.from(text);
      const response = await put(await uploadUrlFor(bytes, { text }), bytes);
      expect(response.status).to.equal(200);
      clock.tick(1000);
      return sha256Of(bytes);
    }

    async function list(query: string): Promise<HttpResult> {
      return request(`${collector.url}/telemetry/runner-log${query}`, { method: 'GET' });
    }

    function shaList(page: HttpResult): string[] {
      return (page.body.reports as Array<{ sha256: string }>).map((report) => report.sha256);
    }

    it('lists reports newest first', async () => {
      await start();
      const first = await storeReport('first crash\n');
      const second = await storeReport('second crash\n');

      const page = await list('');

      expect(page.status).to.equal(200);
      expect(shaList(page)).to.deep.equal([second, first]);
      expect(page.body.nextCursor).to.equal(null);
      const [newest] = page.body.reports as Array<Record<string, unknown>>;
      expect(newest).to.deep.equal({
        key: `runner_log/${second.slice(0, 2)}/${second}.stderr.log`,
        sha256: second,
        size: 'second crash\n'.length,
        receivedAt: '2026-05-28T14:00:01.000Z',
        metadata: { text: 'second crash\n' },
        repeatCount: 0,
      });
    });

    it('pages with a stable cursor', async () => {
      await start();
      const a = await storeReport('a\n');
      const b = await storeReport('b\n');
      const c = await storeReport('c\n');

      const firstPage = await list('?limit=2');
      const d = await storeReport('d\n');
      const secondPage = await list(`?limit=2&cursor=${firstPage.body.nextCursor as string}`);
      const freshPage = await list('?limit=2');

      expect(shaList(firstPage)).to.deep.equal([c, b]);
      expect(shaList(secondPage)).to.deep.equal([a]);
      expect(secondPage.body.nextCursor).to.equal(null);
      expect(shaList(freshPage)).to.deep.equal([d, c]);
    });

    it('orders equal times by SHA-256', async () => {
      await start();
      const texts = ['x\n', 'y\n', 'z\n'];
      for (const text of texts) {
        const bytes = Buffer.from(text);
        await put(await uploadUrlFor(bytes), bytes);
      }
      const expected = texts.map((text) => sha256Of(Buffer.from(text))).sort().reverse();

      const firstPage = await list('?limit=1');
      const secondPage = await list(`?limit=1&cursor=${firstPage.body.nextCursor as string}`);
      const thirdPage = await list(`?limit=1&cursor=${secondPage.body.nextCursor as string}`);

      expect([...shaList(firstPage), ...shaList(secondPage), ...shaList(thirdPage)]).to.deep.equal(expected);
      expect(thirdPage.body.nextCursor).to.equal(null);
    });

    it('rejects an invalid limit or cursor', async () => {
      await start();
      const cases = [
        { query: '?limit=0', field: 'limit' },
        { query: '?limit=1001', field: 'limit' },
        { query: '?limit=ten', field: 'limit' },
        { query: '?limit=1&limit=2', field: 'limit' },
        { query: '?cursor=bm90LWEtY3Vyc29y', field: 'cursor' },
        { query: '?cursor=', field: 'cursor' },
      ];

      for (const { query, field } of cases) {
        const response = await list(query);
        expect(response.status, query).to.equal(400);
        expect(response.body.field, query).to.equal(field);
      }
    });

    it('reloads reports after a restart', async () => {
      await start();
      const first = await storeReport('before restart\n');
      await collector.close();
      await fs.writeFile(path.join(storeDir, 'tmp', 'upload-0123456789abcdef.part'), 'partial bytes');

      await start();
      const page = await list('');

      expect(shaList(page)).to.deep.equal([first]);
      expect((page.body.reports as Array<Record<string, unknown>>)[0].metadata).to.deep.equal({ text: 'before restart\n' });
      expect(await filesUnder(path.join(storeDir, 'tmp'))).to.deep.equal([]);
      const cleanup = await waitForLog(entries, (entry) => entry.message === 'removed partial uploads left by an earlier run');
      expect(cleanup.count).to.equal(1);
    });
  });

  describe('secret', () => {
    it('generates a private secret once', async () => {
      await start({ secret: undefined });
      const secretPath = path.join(storeDir, GENERATED_SECRET_FILE);
      const secret = await fs.readFile(secretPath);
      const firstEntries = entries;
      const uploadUrl = await uploadUrlFor(CRASH_LOG, { exitCode: 1 });
      await collector.close();

      await start({ secret: undefined });
      const response = await put(uploadUrl.replace(/^http:\/\/[^/]+/, collector.url), CRASH_LOG);

      expect(secret.length).to.be.at.least(32);
      expect((await fs.stat(secretPath)).mode & 0o777).to.equal(0o600);
      expect((await fs.readFile(secretPath)).equals(secret)).to.equal(true);
      expect(response.status).to.equal(200);
      const restarted = await waitForLog(entries, (entry) => entry.message.includes('issued before the collector restarted'));
      expect(restarted.level).to.equal('warn');
      const allLogs = JSON.stringify([...firstEntries, ...entries]);
      expect(allLogs).not.to.contain(secret.toString());
      expect(allLogs).not.to.contain(tokenOf(uploadUrl).mac.toString('base64url'));
    });

    it('uses the secret file given', async () => {
      const secretFile = path.join(storeDir, 'shared.secret');
      await fs.writeFile(secretFile, crypto.randomBytes(48), { mode: 0o600 });
      const otherStore = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-test-'));
      try {
        await start({ secret: undefined, secretFile });
        const uploadUrl = await uploadUrlFor(CRASH_LOG);
        await collector.close();

        // Another store, so nothing but the secret file is shared.
        await start({ secret: undefined, secretFile, storeDir: otherStore });
        const response = await put(uploadUrl.replace(/^http:\/\/[^/]+/, collector.url), CRASH_LOG);

        expect(response.status).to.equal(200);
        expect(await fs.readdir(otherStore)).not.to.include(GENERATED_SECRET_FILE);
      } finally {
        await Promise.all(started.map((each) => each.close()));
        await fs.rm(otherStore, { recursive: true, force: true });
      }
    });

    it('rejects a short secret file', async () => {
      const secretFile = path.join(storeDir, 'short.secret');
      await fs.writeFile(secretFile, 'too short', { mode: 0o600 });

      try {
        await start({ secret: undefined, secretFile });
        expect.fail('the collector started with a 9-byte secret');
      } catch (error) {
        expect(errorCode(error)).to.equal('ERR_SECRET_TOO_SHORT');
        expect((error as Error).message).to.contain(secretFile);
        expect((error as Error).message).to.contain('at least 32');
      }
    });

    it('warns about a secret others can read', async () => {
      const secretFile = path.join(storeDir, 'open.secret');
      await fs.writeFile(secretFile, crypto.randomBytes(32));
      await fs.chmod(secretFile, 0o644);

      await start({ secret: undefined, secretFile });

      const warning = await waitForLog(entries, (entry) => entry.message === 'upload token secret file is readable by other users');
      expect(warning.level).to.equal('warn');
      expect(warning.fix).to.equal(`chmod 600 ${secretFile}`);
    });
  });
});

/** Waits until a partial upload file exists in `tempDir`, so the body is known to be streaming. */
async function waitForPartialUpload(tempDir: string): Promise<void> {
  const deadline = performance.now() + 3000;
  while ((await fs.readdir(tempDir)).length === 0) {
    if (performance.now() > deadline) throw new Error(`no partial upload appeared in ${tempDir} within 3000 ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
