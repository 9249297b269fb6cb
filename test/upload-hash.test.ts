import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { expect } from 'chai';

import { hashFileRange } from '../src/telemetry/upload/hash-file.js';
import { createPiscinaHasher } from '../src/telemetry/upload/hasher.js';
import { makeTempDir } from './helpers/temp-dir.js';

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('hashFileRange', () => {
  let dir: string;
  let remove: () => Promise<void>;
  let file: string;
  const bytes = randomBytes(3 * 1024 * 1024 + 17);

  beforeEach(async () => {
    ({ dir, remove } = await makeTempDir('exo-hash-'));
    file = path.join(dir, 'log');
    await fs.writeFile(file, bytes);
  });

  afterEach(async () => {
    await remove();
  });

  it('hashes the whole file', async () => {
    expect(await hashFileRange({ path: file })).to.deep.equal({ sha256: sha256(bytes), size: bytes.length });
  });

  it('hashes a byte range', async () => {
    const result = await hashFileRange({ path: file, start: 1000, end: 2_000_000 });
    expect(result).to.deep.equal({ sha256: sha256(bytes.subarray(1000, 2_000_000)), size: 2_000_000 - 1000 });
  });

  it('hashes an empty range', async () => {
    expect(await hashFileRange({ path: file, start: 5, end: 5 })).to.deep.equal({ sha256: sha256(Buffer.alloc(0)), size: 0 });
  });

  it('reports a short file', async () => {
    const result = await hashFileRange({ path: file, start: bytes.length - 10, end: bytes.length + 100 });
    expect(result.size).to.equal(10);
  });

  it('reads through an open descriptor', async () => {
    const handle = await fs.open(file, 'r');
    try {
      // The path no longer leads to the file, but the descriptor still does.
      await fs.rename(file, path.join(dir, 'moved'));
      const result = await hashFileRange({ path: file, fd: handle.fd, start: 10 });
      expect(result).to.deep.equal({ sha256: sha256(bytes.subarray(10)), size: bytes.length - 10 });
      expect((await handle.stat()).size).to.equal(bytes.length);
    } finally {
      await handle.close();
    }
  });
});

describe('piscina hasher', () => {
  it('hashes in the compiled task', async () => {
    const { dir, remove } = await makeTempDir('exo-hash-pool-');
    const hasher = createPiscinaHasher();
    try {
      const bytes = randomBytes(100_000);
      const file = path.join(dir, 'log');
      await fs.writeFile(file, bytes);
      expect(await hasher.hash({ path: file, start: 50_000 })).to.deep.equal({ sha256: sha256(bytes.subarray(50_000)), size: 50_000 });
    } finally {
      await hasher.destroy();
      await remove();
    }
  });

  it('rejects an aborted task', async () => {
    const { dir, remove } = await makeTempDir('exo-hash-abort-');
    const hasher = createPiscinaHasher();
    try {
      const file = path.join(dir, 'log');
      await fs.writeFile(file, randomBytes(1000));
      const controller = new AbortController();
      controller.abort();
      let rejected = false;
      await hasher.hash({ path: file }, controller.signal).catch(() => {
        rejected = true;
      });
      expect(rejected).to.equal(true);
    } finally {
      await hasher.destroy();
      await remove();
    }
  });
});
