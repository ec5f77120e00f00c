/**
 * Checks API keys: static keys from the environment first (constant-time digest comparison), then
 * the key store, with a short cache. Revocations arrive on a broadcast channel and evict at once.
 */
import { ApiKeyRecord, KeyLimits, KeyStore, hashApiKey, sameDigest } from '@studioline/server-kit';

export type KeyVerdict =
  | { ok: true; hash: string; keyId: string; expiresAt?: number; limits?: KeyLimits }
  | { ok: false; reason: 'unknown' | 'revoked' | 'expired' };

/** The store could not be asked (Redis down): the caller refuses with "unavailable". */
export class KeyStoreUnavailableError extends Error {
  readonly code = 'unavailable';
}

export class KeyVerifier {
  private readonly cache = new Map<string, { record: ApiKeyRecord; until: number }>();

  constructor(
    private readonly store: KeyStore,
    private readonly staticHashes: readonly string[],
    private readonly cacheMs: number,
    private readonly onCache: (result: 'hit' | 'miss') => void = () => undefined,
  ) {}

  async verify(secret: string): Promise<KeyVerdict> {
    const hash = hashApiKey(secret);
    // Compare against every static key, so the time taken does not tell which one matched.
    let staticMatch = false;
    for (const s of this.staticHashes) staticMatch = sameDigest(hash, s) || staticMatch;
    if (staticMatch) return { ok: true, hash, keyId: 'static' };

    const now = Date.now();
    let record = this.cache.get(hash);
    if (record && record.until > now) this.onCache('hit');
    else {
      this.onCache('miss');
      let found: ApiKeyRecord | undefined;
      try {
        found = await this.store.findByHash(hash);
      } catch (err) {
        throw new KeyStoreUnavailableError((err as Error).message);
      }
      // Unknown keys are not cached: a key created a moment ago must work at once.
      if (!found) return { ok: false, reason: 'unknown' };
      record = { record: found, until: now + this.cacheMs };
      if (this.cacheMs > 0) this.cache.set(hash, record);
    }
    if (record.record.revokedAt !== undefined) return { ok: false, reason: 'revoked' };
    if (record.record.expiresAt !== undefined && record.record.expiresAt <= now) return { ok: false, reason: 'expired' };
    return { ok: true, hash, keyId: record.record.id, expiresAt: record.record.expiresAt, limits: record.record.limits };
  }

  /** Forgets a key (it was revoked or rotated). */
  evict(hash: string): void {
    this.cache.delete(hash);
  }

  /** Forgets every key (the store was out of reach: revocations may have been missed). */
  clear(): void {
    this.cache.clear();
  }
}
