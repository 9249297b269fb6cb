import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';

import { expect } from 'chai';

import { collectorOptionsFrom, runServe, type ServeArgs } from '../src/cli/commands/telemetry-serve.js';
import { DEFAULT_MAX_SIZE_BYTES } from '../src/collector/options.js';
import { startCollector } from '../src/collector/server.js';
import { defaultStoreDir } from '../src/collector/store-dir.js';
import { errorCode, UsageError } from '../src/errors.js';
import { createLogger, type Logger } from '../src/log/logger.js';

interface LogEntry {
  level: string;
  message: string;
  [field: string]: unknown;
}

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

async function waitForLog(entries: LogEntry[], message: string, timeoutMs = 3000): Promise<LogEntry> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const found = entries.find((entry) => entry.message === message);
    if (found !== undefined) return found;
    if (performance.now() > deadline) throw new Error(`no "${message}" log entry within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function serveArgs(overrides: Partial<ServeArgs> = {}): ServeArgs {
  return {
    verbose: 0,
    quiet: false,
    logFormat: 'json',
    host: '127.0.0.1',
    port: 0,
    store: undefined,
    maxSize: DEFAULT_MAX_SIZE_BYTES,
    publicUrl: undefined,
    secretFile: undefined,
    tokenTtl: 900,
    presignRateLimit: 60,
    ...overrides,
  };
}

describe('telemetry serve options', () => {
  const { logger } = captureLogger();

  it('accepts the defaults', () => {
    const options = collectorOptionsFrom(serveArgs({ store: '/srv/reports', publicUrl: 'https://telemetry.example.org/' }), logger);

    expect(options.host).to.equal('127.0.0.1');
    expect(options.port).to.equal(0);
    expect(options.storeDir).to.equal('/srv/reports');
    expect(options.maxSizeBytes).to.equal(50 * 1024 * 1024);
    expect(options.publicUrl).to.equal('https://telemetry.example.org');
    expect(options.tokenTtlSeconds).to.equal(900);
    expect(options.presignRateLimit).to.equal(60);
  });

  it('defaults the store to the data dir', () => {
    const options = collectorOptionsFrom(serveArgs(), logger);

    expect(options.storeDir).to.equal(defaultStoreDir());
  });

  it('rejects invalid values naming the flag', () => {
    const cases: Array<{ args: Partial<ServeArgs>; flag: string; value: string }> = [
      { args: { port: 65536 }, flag: '--port', value: '65536' },
      { args: { port: -1 }, flag: '--port', value: '-1' },
      { args: { port: 80.5 }, flag: '--port', value: '80.5' },
      { args: { port: NaN }, flag: '--port', value: '(not a number)' },
      { args: { maxSize: 0 }, flag: '--max-size', value: '0' },
      { args: { maxSize: 1.5 }, flag: '--max-size', value: '1.5' },
      { args: { tokenTtl: 0 }, flag: '--token-ttl', value: '0' },
      { args: { tokenTtl: 86401 }, flag: '--token-ttl', value: '86401' },
      { args: { presignRateLimit: 0 }, flag: '--presign-rate-limit', value: '0' },
      { args: { publicUrl: 'ftp://telemetry.example.org' }, flag: '--public-url', value: '"ftp://telemetry.example.org"' },
      { args: { publicUrl: 'https://user:pass@telemetry.example.org' }, flag: '--public-url', value: 'user:pass' },
      { args: { publicUrl: 'https://telemetry.example.org/?a=1' }, flag: '--public-url', value: '?a=1' },
      { args: { publicUrl: 'telemetry.example.org' }, flag: '--public-url', value: '"telemetry.example.org"' },
      { args: { host: '' }, flag: '--host', value: '""' },
    ];

    for (const { args, flag, value } of cases) {
      const label = JSON.stringify(args);
      let error: unknown;
      try {
        collectorOptionsFrom(serveArgs(args), logger);
      } catch (caught) {
        error = caught;
      }

      expect(error, label).to.be.instanceOf(UsageError);
      expect(errorCode(error), label).to.equal('ERR_INVALID_OPTION');
      expect((error as Error).message, label).to.contain(`invalid ${flag} `);
      expect((error as Error).message, label).to.contain(value);
      expect((error as Error).message, label).to.contain('expected');
    }
  });
});

describe('collector options', () => {
  it('rejects invalid values naming the option', async () => {
    const { logger } = captureLogger();
    const cases = [
      { port: 70000 },
      { maxSizeBytes: 0 },
      { tokenTtlSeconds: -1 },
      { presignRateLimit: 0.5 },
      { publicUrl: 'file:///tmp' },
      { secret: Buffer.alloc(31) },
    ];

    for (const options of cases) {
      const name = Object.keys(options)[0];
      try {
        await startCollector({ storeDir: '/nonexistent/never-created', logger, ...options });
        expect.fail(`started with ${name} ${JSON.stringify(options)}`);
      } catch (error) {
        expect(error, name).to.be.instanceOf(UsageError);
        expect((error as Error).message, name).to.contain(`invalid ${name}`);
      }
    }
  });
});

describe('runServe', () => {
  let storeDir: string;

  beforeEach(async () => {
    storeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-serve-test-'));
  });

  afterEach(async () => {
    await fs.rm(storeDir, { recursive: true, force: true });
  });

  it('serves until stop is requested', async () => {
    const { logger, entries } = captureLogger();
    const stop = new AbortController();

    const serving = runServe(serveArgs({ store: storeDir }), logger, stop.signal);
    const listening = await waitForLog(entries, 'collector listening');
    const health = await fetch(`${listening.url as string}/healthz`);
    stop.abort();
    await serving;

    expect(health.status).to.equal(200);
    expect((await waitForLog(entries, 'stopping collector')).reason).to.equal('stop requested');
    await waitForLog(entries, 'collector stopped');
    let refused = false;
    try {
      await fetch(`${listening.url as string}/healthz`);
    } catch {
      refused = true;
    }
    expect(refused).to.equal(true);
  });

  it('stops on SIGTERM', async () => {
    const { logger, entries } = captureLogger();
    const listenersBefore = process.listenerCount('SIGTERM');

    const serving = runServe(serveArgs({ store: storeDir }), logger);
    await waitForLog(entries, 'collector listening');
    // Calls the listeners without delivering a real signal, so a broken handler cannot kill mocha.
    process.emit('SIGTERM', 'SIGTERM');
    await serving;

    expect((await waitForLog(entries, 'stopping collector')).reason).to.equal('received SIGTERM');
    expect(process.listenerCount('SIGTERM')).to.equal(listenersBefore);
  });

  it('rejects an invalid flag before starting', async () => {
    const { logger, entries } = captureLogger();

    try {
      await runServe(serveArgs({ store: storeDir, port: 99999 }), logger);
      expect.fail('runServe started with --port 99999');
    } catch (error) {
      expect(error).to.be.instanceOf(UsageError);
    }
    expect(entries.filter((entry) => entry.message === 'collector listening')).to.deep.equal([]);
  });
});

describe('defaultStoreDir', () => {
  const homeDir = '/home/operator';

  it('uses EXO_HOME when set', () => {
    const storeDir = defaultStoreDir({ env: { EXO_HOME: '/opt/exo', XDG_DATA_HOME: '/xdg' }, platform: 'linux', homeDir });

    expect(storeDir).to.equal('/opt/exo/telemetry_store');
  });

  it('uses XDG_DATA_HOME on Linux', () => {
    const storeDir = defaultStoreDir({ env: { XDG_DATA_HOME: '/xdg/data' }, platform: 'linux', homeDir });

    expect(storeDir).to.equal('/xdg/data/exo/telemetry_store');
  });

  it('ignores a relative XDG_DATA_HOME', () => {
    const storeDir = defaultStoreDir({ env: { XDG_DATA_HOME: 'relative/data' }, platform: 'linux', homeDir });

    expect(storeDir).to.equal('/home/operator/.local/share/exo/telemetry_store');
  });

  it('defaults to ~/.local/share on Linux', () => {
    const storeDir = defaultStoreDir({ env: { EXO_HOME: '' }, platform: 'linux', homeDir });

    expect(storeDir).to.equal('/home/operator/.local/share/exo/telemetry_store');
  });

  it('uses ~/.exo elsewhere', () => {
    const storeDir = defaultStoreDir({ env: { XDG_DATA_HOME: '/xdg/data' }, platform: 'darwin', homeDir: '/Users/operator' });

    expect(storeDir).to.equal('/Users/operator/.exo/telemetry_store');
  });
});
