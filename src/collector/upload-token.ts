import crypto from 'node:crypto';

/**
 * An upload token is `<claims>.<mac>`, both base64url. The claims are binary:
 * version (1 byte) | expiresAtMs (8, big-endian) | size (8) | sha256 (32) | nonce (16),
 * and the MAC is HMAC-SHA256 of the claims under the collector's secret. Any change
 * to a bound field therefore breaks the MAC.
 */
const TOKEN_VERSION = 1;
const NONCE_BYTES = 16;
const SHA256_BYTES = 32;
const CLAIMS_BYTES = 1 + 8 + 8 + SHA256_BYTES + NONCE_BYTES;
const MAC_BYTES = 32;

export interface UploadTokenClaims {
  /** SHA-256 of the bytes the PUT must carry, 64 lowercase hex characters. */
  sha256: string;
  /** Exact byte count the PUT must carry. */
  size: number;
  /** Milliseconds since the Unix epoch after which the token is rejected. */
  expiresAtMs: number;
  /** Random hex that makes each token single-use. */
  nonce: string;
}

/** Creates a token bound to `sha256` and `size` that expires `ttlMs` after `nowMs`. */
export function issueUploadToken(
  secret: Buffer,
  upload: { sha256: string; size: number },
  ttlMs: number,
  nowMs: number,
): { token: string; claims: UploadTokenClaims } {
  const nonce = crypto.randomBytes(NONCE_BYTES);
  const claims: UploadTokenClaims = { sha256: upload.sha256, size: upload.size, expiresAtMs: nowMs + ttlMs, nonce: nonce.toString('hex') };

  const bytes = Buffer.alloc(CLAIMS_BYTES);
  let offset = bytes.writeUInt8(TOKEN_VERSION, 0);
  offset = bytes.writeBigUInt64BE(BigInt(claims.expiresAtMs), offset);
  offset = bytes.writeBigUInt64BE(BigInt(claims.size), offset);
  offset += Buffer.from(claims.sha256, 'hex').copy(bytes, offset);
  nonce.copy(bytes, offset);

  const token = `${bytes.toString('base64url')}.${computeMac(secret, bytes).toString('base64url')}`;
  return { token, claims };
}

/**
 * Returns the claims of a token signed with `secret`, or undefined when the token
 * is malformed or its MAC does not match. Expiry and reuse are the caller's checks.
 */
export function verifyUploadToken(secret: Buffer, token: string): UploadTokenClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 2) return undefined;
  const claims = decodeCanonicalBase64url(parts[0], CLAIMS_BYTES);
  const mac = decodeCanonicalBase64url(parts[1], MAC_BYTES);
  if (claims === undefined || mac === undefined) return undefined;

  if (!crypto.timingSafeEqual(mac, computeMac(secret, claims))) return undefined;
  if (claims.readUInt8(0) !== TOKEN_VERSION) return undefined;

  let offset = 1;
  const expiresAtMs = Number(claims.readBigUInt64BE(offset));
  offset += 8;
  const size = Number(claims.readBigUInt64BE(offset));
  offset += 8;
  const sha256 = claims.subarray(offset, offset + SHA256_BYTES).toString('hex');
  offset += SHA256_BYTES;
  const nonce = claims.subarray(offset, offset + NONCE_BYTES).toString('hex');
  return { sha256, size, expiresAtMs, nonce };
}

function computeMac(secret: Buffer, claims: Buffer): Buffer {
  return crypto.createHmac('sha256', secret).update(claims).digest();
}

/**
 * Decodes base64url that must be exactly `length` bytes. Node's decoder skips
 * invalid characters and ignores the spare bits of the last character, so the
 * text is re-encoded and compared: one token has exactly one spelling.
 */
function decodeCanonicalBase64url(text: string, length: number): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.length !== length || bytes.toString('base64url') !== text) return undefined;
  return bytes;
}
