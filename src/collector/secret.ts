import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

import { ExoError, UsageError, errorCode } from '../errors.js';
import type { Logger } from '../log/logger.js';

/** HMAC-SHA256 keys shorter than its 32-byte output weaken the MAC. */
export const MIN_SECRET_BYTES = 32;

/** File name of the generated secret, inside the store dir. */
export const GENERATED_SECRET_FILE = 'upload-token.secret';

/**
 * Returns the secret that signs upload tokens: the bytes of `secretFile` when given,
 * else the secret generated at the first start in `storeDir` (created with mode 0600
 * and reused afterwards, so tokens survive a restart). The secret is never logged.
 */
export async function loadUploadSecret(options: { secretFile?: string; storeDir: string; logger: Logger }): Promise<Buffer> {
  if (options.secretFile !== undefined) {
    return readSecretFile(options.secretFile, options.logger);
  }

  const generatedPath = path.join(options.storeDir, GENERATED_SECRET_FILE);
  const secret = Buffer.from(crypto.randomBytes(MIN_SECRET_BYTES).toString('hex'));
  try {
    // `wx` fails when the file exists, so two collectors starting on one store agree on one secret.
    await fs.writeFile(generatedPath, secret, { mode: 0o600, flag: 'wx' });
    options.logger.info('generated upload token secret', { path: generatedPath });
    return secret;
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') {
      throw new ExoError('ERR_SECRET_FILE', `cannot create the upload token secret ${generatedPath}: ${String(error)}; check that the store dir is writable`, { cause: error });
    }
  }
  return readSecretFile(generatedPath, options.logger);
}

async function readSecretFile(file: string, logger: Logger): Promise<Buffer> {
  let secret: Buffer;
  let mode: number;
  try {
    secret = await fs.readFile(file);
    mode = (await fs.stat(file)).mode;
  } catch (error) {
    throw new UsageError('ERR_SECRET_FILE', `cannot read secret file ${file}: ${String(error)}; pass a readable file to --secret-file`, { cause: error });
  }

  if (secret.length < MIN_SECRET_BYTES) {
    throw new UsageError(
      'ERR_SECRET_TOO_SHORT',
      `secret file ${file} holds ${secret.length} bytes, fewer than ${MIN_SECRET_BYTES}; write at least ${MIN_SECRET_BYTES} random bytes, e.g. \`openssl rand -hex 32 > ${file}\``,
    );
  }
  // Windows reports no group or other permission bits that mean anything here.
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    logger.warn('upload token secret file is readable by other users', { path: file, mode: (mode & 0o777).toString(8), fix: `chmod 600 ${file}` });
  }
  return secret;
}
