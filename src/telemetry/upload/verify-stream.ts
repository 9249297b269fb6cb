import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

import { ExoError } from '../../errors.js';

/** Code of the error raised when the bytes read differ from those hashed. The attempt is retried with a fresh hash. */
export const PAYLOAD_CHANGED_CODE = 'ERR_PAYLOAD_CHANGED';

/**
 * Passes bytes through while hashing them, and holds back the last chunk until
 * the end shows that the bytes match the announced SHA-256 and size. On a
 * mismatch it errors instead of releasing that chunk, so the request is
 * aborted and the server never receives a complete body that differs from the
 * hash it was promised.
 */
export class HashVerifyingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  private heldChunk: Buffer | undefined;

  constructor(
    private readonly expected: { sha256: string; size: number },
    private readonly onProgress: () => void = () => {},
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.onProgress();
    this.bytes += chunk.length;
    if (this.bytes > this.expected.size) {
      callback(this.mismatch(`more than the ${this.expected.size} bytes announced`));
      return;
    }
    this.hash.update(chunk);
    if (this.heldChunk !== undefined) this.push(this.heldChunk);
    this.heldChunk = chunk;
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.bytes !== this.expected.size) {
      callback(this.mismatch(`${this.bytes} bytes where ${this.expected.size} were announced`));
      return;
    }
    const sha256 = this.hash.digest('hex');
    if (sha256 !== this.expected.sha256) {
      callback(this.mismatch(`SHA-256 ${sha256} where ${this.expected.sha256} was announced`));
      return;
    }
    if (this.heldChunk !== undefined) this.push(this.heldChunk);
    this.heldChunk = undefined;
    callback();
  }

  private mismatch(detail: string): ExoError {
    return new ExoError(PAYLOAD_CHANGED_CODE, `payload changed while it was sent: ${detail}; the report is hashed again on the next attempt`);
  }
}
