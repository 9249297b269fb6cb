import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { errorCode } from '../src/errors.js';
import type { RedactOptions } from '../src/telemetry/redact/options.js';
import { redactFile } from '../src/telemetry/redact/redact-file.js';
import { redactText } from '../src/telemetry/redact/redactor.js';

const options: RedactOptions = { userNames: ['jdoe'], hostNames: ['buildbox-17'], homeDirs: [] };

const LOG = [
  'Traceback (most recent call last):\n',
  '  File "/home/jdoe/exo/src/exo/worker/runner/bootstrap.py", line 75, in entrypoint\n',
  'requests.exceptions.HTTPError: 401 for https://huggingface.co (token=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)\n',
  'reported to jane.doe@example.com from 192.0.2.15\n',
  'RuntimeError: [jaccl] Recv failed with errno=2\n',
].join('');

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

describe('redactFile', () => {
  let folder: string;

  beforeEach(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'exo-redact-file-'));
  });

  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('writes the redacted copy', async () => {
    const source = path.join(folder, 'runner.stderr.log');
    const target = path.join(folder, 'upload.log');
    await writeFile(source, LOG);

    const result = await redactFile(source, target, options);

    const written = await readFile(target, 'utf8');
    expect(written).to.equal(
      [
        'Traceback (most recent call last):\n',
        '  File "~/exo/src/exo/worker/runner/bootstrap.py", line 75, in entrypoint\n',
        'requests.exceptions.HTTPError: 401 for https://huggingface.co (token=[REDACTED:hf_token])\n',
        'reported to [REDACTED:email] from [REDACTED:ipv4]\n',
        'RuntimeError: [jaccl] Recv failed with errno=2\n',
      ].join(''),
    );
    expect(result.counts).to.deep.equal({ home_dir: 1, hf_token: 1, email: 1, ipv4: 1 });
    expect(result.bytesIn).to.equal(Buffer.byteLength(LOG));
    expect(result.bytesOut).to.equal(Buffer.byteLength(written));
  });

  it('leaves the source log unchanged', async () => {
    const source = path.join(folder, 'runner.stderr.log');
    await writeFile(source, LOG);

    await redactFile(source, path.join(folder, 'upload.log'), options);

    expect(await readFile(source, 'utf8')).to.equal(LOG);
  });

  it('creates the target with mode 0600', async () => {
    const source = path.join(folder, 'runner.stderr.log');
    const target = path.join(folder, 'upload.log');
    await writeFile(source, LOG);

    await redactFile(source, target, options);

    expect((await stat(target)).mode & 0o777).to.equal(0o600);
  });

  it('rejects an existing target', async () => {
    const source = path.join(folder, 'runner.stderr.log');
    const target = path.join(folder, 'upload.log');
    await writeFile(source, LOG);
    await writeFile(target, 'keep me');

    const error = await rejection(redactFile(source, target, options));

    expect(errorCode(error)).to.equal('EEXIST');
    expect(await readFile(target, 'utf8')).to.equal('keep me');
  });

  it('rejects a missing source without a target', async () => {
    const target = path.join(folder, 'upload.log');

    const error = await rejection(redactFile(path.join(folder, 'missing.log'), target, options));

    expect(errorCode(error)).to.equal('ENOENT');
    expect(errorCode(await rejection(stat(target)))).to.equal('ENOENT');
  });

  it('removes the target when reading fails', async () => {
    const target = path.join(folder, 'upload.log');

    // Reading a directory fails with EISDIR after the target was created.
    const error = await rejection(redactFile(folder, target, options));

    expect(errorCode(error)).to.equal('EISDIR');
    expect(errorCode(await rejection(stat(target)))).to.equal('ENOENT');
  });

  it('rejects an invalid start offset', async () => {
    const source = path.join(folder, 'runner.stderr.log');
    await writeFile(source, LOG);

    for (const start of [-1, 1.5, Number.NaN]) {
      const error = await rejection(redactFile(source, path.join(folder, `upload-${start}.log`), options, { start }));
      expect(errorCode(error), `start ${start}`).to.equal('ERR_REDACT_INVALID_START');
    }
  });

  it('starts at the line after the offset', async () => {
    const source = path.join(folder, 'runner.stderr.log');
    const target = path.join(folder, 'upload.log');
    await writeFile(source, LOG);
    // An offset inside the token: its first half is in the dropped partial line.
    const start = LOG.indexOf('hf_') + 10;

    const result = await redactFile(source, target, options, { start });

    expect(await readFile(target, 'utf8')).to.equal('reported to [REDACTED:email] from [REDACTED:ipv4]\nRuntimeError: [jaccl] Recv failed with errno=2\n');
    expect(result.bytesIn).to.equal(Buffer.byteLength(LOG) - start);
    expect(result.counts).to.deep.equal({ email: 1, ipv4: 1 });
  });

  it('keeps everything from a line start offset', async () => {
    const source = path.join(folder, 'runner.stderr.log');
    const target = path.join(folder, 'upload.log');
    await writeFile(source, LOG);
    const start = LOG.indexOf('reported');

    await redactFile(source, target, options, { start });

    expect(await readFile(target, 'utf8')).to.equal('reported to [REDACTED:email] from [REDACTED:ipv4]\nRuntimeError: [jaccl] Recv failed with errno=2\n');
  });

  it('redacts a key body before the offset END', async () => {
    const source = path.join(folder, 'runner.stderr.log');
    const target = path.join(folder, 'upload.log');
    const body = ['MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7', 'VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDu', 'kKoB1XqCWhJgPEaUxPZyQxJdPDtJYgTtBsLmMnXhS6dZbV3f2qQw'];
    const log = `loaded key\n-----BEGIN PRIVATE KEY-----\n${body.join('\n')}\n-----END PRIVATE KEY-----\nSegmentation fault: 11\n`;
    await writeFile(source, log);

    const result = await redactFile(source, target, options, { start: log.indexOf(body[0]!) + 5 });

    expect(await readFile(target, 'utf8')).to.equal('[REDACTED:private_key]\nSegmentation fault: 11\n');
    expect(result.counts).to.deep.equal({ private_key: 1 });
  });

  it('streams a 64 MiB log in bounded memory', async function () {
    this.timeout(120_000);
    const source = path.join(folder, 'large.stderr.log');
    const target = path.join(folder, 'upload.log');
    const sizeBytes = 64 * 1024 * 1024;
    // Lines of 1 KiB with a secret in each, and every 16 MiB a 512 KiB line without newline.
    const line = `${'x'.repeat(960)} jane.doe@example.com from 192.0.2.15 ok\n`.slice(-1024);
    const lines = Buffer.from(line.repeat(1024));
    const longLine = Buffer.from(`${'word '.repeat(100_000)}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 ${'word '.repeat(4_000)}\n`);
    const handle = await open(source, 'w');
    let written = 0;
    for (let block = 0; written < sizeBytes; block++) {
      const bytes = block % 16 === 15 ? longLine : lines;
      await handle.write(bytes);
      written += bytes.length;
    }
    await handle.close();

    global.gc?.();
    const before = process.memoryUsage();
    let peak = 0;
    const sampler = setInterval(() => {
      const now = process.memoryUsage();
      peak = Math.max(peak, now.heapUsed + now.external + now.arrayBuffers - (before.heapUsed + before.external + before.arrayBuffers));
    }, 2);
    let result;
    try {
      result = await redactFile(source, target, options);
    } finally {
      clearInterval(sampler);
    }

    expect(result.bytesIn).to.equal(written);
    expect(result.counts.email).to.be.greaterThan(60_000);
    expect(result.counts.hf_token).to.be.greaterThan(0);
    expect(peak / 1024 / 1024, 'peak memory growth in MiB').to.be.below(48);
    const sample = (await readFile(target)).subarray(0, 4096);
    expect(sample.includes(Buffer.from('jane.doe'))).to.equal(false);
  });

  it('writes what redactText returns', async () => {
    const source = path.join(folder, 'runner.stderr.log');
    const target = path.join(folder, 'upload.log');
    const input = Buffer.concat([Buffer.from(LOG), Buffer.from([0xff, 0xfe]), Buffer.from(' last line without newline')]);
    await writeFile(source, input);

    await redactFile(source, target, options);

    expect((await readFile(target)).equals(redactText(input, options).output)).to.equal(true);
  });
});
