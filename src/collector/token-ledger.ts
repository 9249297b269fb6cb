import type { UploadTokenClaims } from './upload-token.js';

/** How often entries past their token's expiry are forgotten. */
const PRUNE_INTERVAL_MS = 60_000;

export type ConsumeResult =
  | { status: 'accepted'; metadata: Record<string, unknown> | null; issuedBeforeRestart: boolean }
  | { status: 'used' };

/**
 * Server-side state of upload tokens, by nonce: the metadata of tokens issued and
 * not used yet, and the tokens whose upload has started. An entry is kept until
 * its token expires, after which the expiry check rejects the token anyway.
 */
export class TokenLedger {
  private readonly pending = new Map<string, { expiresAtMs: number; metadata: Record<string, unknown> | null }>();
  private readonly used = new Map<string, number>();
  private lastPruneMs = 0;

  /** @param maxPending bounds the metadata held for tokens not used yet. */
  constructor(private readonly maxPending: number) {}

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Records an issued token. Returns false, recording nothing, when `maxPending` tokens are pending already. */
  issue(claims: UploadTokenClaims, metadata: Record<string, unknown> | null, nowMs: number): boolean {
    this.maybePrune(nowMs);
    if (this.pending.size >= this.maxPending) this.prune(nowMs);
    if (this.pending.size >= this.maxPending) return false;
    this.pending.set(claims.nonce, { expiresAtMs: claims.expiresAtMs, metadata });
    return true;
  }

  /**
   * Marks a token as used and returns its metadata, or `used` when it was used already.
   *
   * NOTE: the ledger lives in memory. A token issued before a collector restart is
   * accepted once without its metadata, and one used before the restart is accepted
   * again until it expires. Either way the upload must carry the bound bytes, and
   * equal bytes are stored once.
   */
  consume(claims: UploadTokenClaims, nowMs: number): ConsumeResult {
    this.maybePrune(nowMs);
    if (this.used.has(claims.nonce)) return { status: 'used' };

    this.used.set(claims.nonce, claims.expiresAtMs);
    const issued = this.pending.get(claims.nonce);
    this.pending.delete(claims.nonce);
    return { status: 'accepted', metadata: issued?.metadata ?? null, issuedBeforeRestart: issued === undefined };
  }

  private maybePrune(nowMs: number): void {
    if (nowMs - this.lastPruneMs >= PRUNE_INTERVAL_MS) this.prune(nowMs);
  }

  private prune(nowMs: number): void {
    this.lastPruneMs = nowMs;
    for (const [nonce, entry] of this.pending) {
      if (entry.expiresAtMs < nowMs) this.pending.delete(nonce);
    }
    for (const [nonce, expiresAtMs] of this.used) {
      if (expiresAtMs < nowMs) this.used.delete(nonce);
    }
  }
}
