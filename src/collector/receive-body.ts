import crypto from 'node:crypto';
import fs from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { RequestRejection } from './rejection.js';

/**
 * Streams a request body into `tempPath` while hashing it, so memory stays at one
 * chunk whatever the size. Rejects with 413 as soon as more than `maxBytes` arrive.
 * On any failure the caller removes `tempPath`.
 */
export async function receiveBody(body: Readable, tempPath: string, maxBytes: number): Promise<{ size: number; sha256: string }> {
  const hash = crypto.createHash('sha256');
  let size = 0;

  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      if (size > maxBytes) {
        callback(new RequestRejection(413, 'ERR_BODY_TOO_LARGE', `upload body exceeds the announced ${maxBytes} bytes`));
        return;
      }
      hash.update(chunk);
      callback(null, chunk);
    },
  });

  // `wx` never reuses an existing file, and mode 0600 keeps crash logs private to the collector's user.
  await pipeline(body, meter, fs.createWriteStream(tempPath, { flags: 'wx', mode: 0o600 }));
  return { size, sha256: hash.digest('hex') };
}
