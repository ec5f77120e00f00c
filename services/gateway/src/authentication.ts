/**
 * A join's API key: checked under the failed-key limit, recorded on the session once good, and
 * taken back when it is revoked. Every per-key decision about an open session is made here.
 */
import { Backend } from '@studioline/server-kit';
import { AddressLimits } from './address-limits.js';
import { GatewayConfig } from './config.js';
import { KeyStoreUnavailableError, KeyVerdict, KeyVerifier } from './key-verifier.js';
import { GatewayMetrics } from './metrics.js';
import { Session } from './session.js';
import { Sessions } from './sessions.js';

type GoodKey = Extract<KeyVerdict, { ok: true }>;

export class Authenticator {
  private readonly verifier: KeyVerifier;

  constructor(
    private readonly config: GatewayConfig,
    private readonly backend: Backend,
    private readonly metrics: GatewayMetrics,
    private readonly addressLimits: AddressLimits,
    private readonly sessions: Sessions,
  ) {
    this.verifier = new KeyVerifier(backend.keys, config.staticKeyHashes, config.keyCacheMs, (result) => metrics.keyCache.inc({ result }));
  }

  /**
   * Checks a join's key under the failed-key limit: the checks of this address in flight on this
   * gateway count as failures from the moment they start (synchronously, before any await), and a
   * failure is recorded in the store before its check stops counting. Returns the good key's
   * verdict, or undefined once the session is refused.
   */
  async check(session: Session, apikey: string): Promise<GoodKey | undefined> {
    const { address } = session;
    const inFlight = this.addressLimits.startCheck(address);
    try {
      let failures = 0;
      try {
        failures = await this.backend.authFailures.count(address);
      } catch {
        /* store down: the key check will refuse with "unavailable" */
      }
      if (session.state !== 'verifying') return undefined;
      if (failures + inFlight > this.config.authFailLimit) {
        this.metrics.authFailures.inc({ reason: 'rate_limited' });
        return void this.sessions.refuse(session, 'too_many_attempts');
      }
      let verdict;
      try {
        verdict = await this.verifier.verify(apikey);
      } catch (err) {
        if (!(err instanceof KeyStoreUnavailableError)) throw err;
        return void this.sessions.refuse(session, 'unavailable');
      }
      if (verdict.ok) return verdict;
      this.metrics.authFailures.inc({ reason: verdict.reason });
      await this.backend.authFailures.record(address, this.config.authFailWindowMs).catch(() => undefined);
      return void this.sessions.refuse(session, verdict.reason === 'revoked' ? 'key_revoked' : 'unauthorized');
    } finally {
      this.addressLimits.endCheck(address);
    }
  }

  /** The session joins with a good key: from here on it counts as authenticated, and its key can be revoked. */
  admit(session: Session, key: GoodKey): void {
    session.keyHash = key.hash;
    session.keyId = key.keyId;
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
    for (const session of this.sessions.values()) if (session.keyHash === hash) this.sessions.refuse(session, 'key_revoked');
  }
}
