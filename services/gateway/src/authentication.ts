/**
 * A join's API key: checked under the failed-key limit, recorded on the session once good, and
 * taken back when it is revoked. Every per-key decision about an open session is made here.
 */
import { Backend, Logger } from '@studioline/server-kit';
import { GatewayConfig } from './config.js';
import { KeyExpiry } from './key-expiry.js';
import { KeyStoreUnavailableError, KeyVerdict, KeyVerifier } from './key-verifier.js';
import { GatewayMetrics } from './metrics.js';
import { Session } from './session.js';
import { Sessions } from './sessions.js';
import { SharedAddressLimits } from './shared-address-limits.js';

type GoodKey = Extract<KeyVerdict, { ok: true }>;

export class Authenticator {
  private readonly verifier: KeyVerifier;
  /** Keys that expire during a call (key-expiry.ts). */
  readonly expiry: KeyExpiry;

  constructor(
    private readonly config: GatewayConfig,
    private readonly backend: Backend,
    private readonly metrics: GatewayMetrics,
    private readonly addressLimits: SharedAddressLimits,
    private readonly sessions: Sessions,
    logger: Logger,
  ) {
    this.verifier = new KeyVerifier(backend.keys, config.staticKeyHashes, config.keyCacheMs, (result) => metrics.keyCache.inc({ result }));
    this.expiry = new KeyExpiry({
      backend,
      verifier: this.verifier,
      logger,
      inUse: (hash) => [...sessions.values()].some((s) => s.keyHash === hash && s.state !== 'closed'),
      closeKey: (hash, code) => this.closeKey(hash, code),
    });
  }

  /**
   * Checks a join's key under the failed-key limit, across gateways: the check waits for a place
   * (failures plus checks in flight under the limit; see shared-address-limits.ts), counts in
   * flight from its start, and its failure is recorded in the same step that ends it. Returns the
   * good key's verdict, or undefined once the session is refused.
   */
  async check(session: Session, apikey: string): Promise<GoodKey | undefined> {
    const { address } = session;
    const admission = await this.addressLimits.beginCheck(address, () => session.state === 'verifying');
    if (admission === 'gone') return undefined;
    if (admission !== 'go') {
      if (admission === 'too_many_attempts') this.metrics.authFailures.inc({ reason: 'rate_limited' });
      return void this.sessions.refuse(session, admission);
    }
    let failed = false;
    try {
      let verdict;
      try {
        verdict = await this.verifier.verify(apikey);
      } catch (err) {
        if (!(err instanceof KeyStoreUnavailableError)) throw err;
        return void this.sessions.refuse(session, 'unavailable');
      }
      if (verdict.ok) return verdict;
      failed = true;
      this.metrics.authFailures.inc({ reason: verdict.reason });
      return void this.sessions.refuse(session, verdict.reason === 'revoked' ? 'key_revoked' : 'unauthorized');
    } finally {
      await this.addressLimits.endCheck(address, failed);
    }
  }

  /** The session joins with a good key: from here on it counts as authenticated, and its key can be revoked. */
  admit(session: Session, key: GoodKey): void {
    session.keyHash = key.hash;
    session.keyId = key.keyId;
    this.expiry.track(key.hash, key.expiresAt);
    this.addressLimits.authenticated(session.address);
  }

  /** A key was revoked (a broadcast on the revocations channel): forget it, and close every session that holds it. */
  onRevocation(msg: Buffer): void {
    let hash: string;
    try {
      hash = JSON.parse(msg.toString('utf8')).hash;
    } catch {
      return;
    }
    this.verifier.evict(hash);
    this.closeKey(hash, 'key_revoked');
  }

  /**
   * After a Redis outage (a failover): a revocation or expiry change broadcast while this gateway
   * was disconnected never reached it, so the cache is dropped and every stored key in use is read
   * again; a key revoked meanwhile has its sessions closed as at the broadcast.
   */
  recheckKeys(): void {
    this.verifier.clear();
    const hashes = new Set<string>();
    for (const s of this.sessions.values()) if (s.keyHash && s.keyId !== 'static' && s.state !== 'closed') hashes.add(s.keyHash);
    for (const hash of hashes) this.expiry.recheck(hash);
  }

  /** Closes every session authenticated with the key of this digest (revoked, rotated or expired). */
  private closeKey(hash: string, code: 'key_revoked' | 'key_expired'): void {
    for (const session of this.sessions.values()) if (session.keyHash === hash) this.sessions.refuse(session, code);
  }
}
