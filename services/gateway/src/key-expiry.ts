/**
 * Expiry of API keys on open sockets: a key that expires while its calls are open stops working at
 * its expiry, on every gateway, as a revoked key does. Each gateway keeps one timer per key in use
 * (not per socket) at the key's expiry; when it fires, the key's record is read again (its expiry
 * may have moved), and the key's sockets are closed with key_expired (key_revoked if it was revoked
 * meanwhile). No broadcast is needed at the moment of expiry: every gateway holding the key has its
 * own timer, so the sockets close within a timer's precision of the expiry on each.
 *
 * keys-admin changing a key's expiry (`POST /v1/keys/:id/expiry`, or a mirrored Secret's
 * annotation) broadcasts the key's digest on the key-changes channel; each gateway that holds the
 * key re-reads it and sets its timer again, or closes the sockets at once if the new expiry has
 * passed. When the store cannot be read at the expiry, the expiry last known is applied: a key is
 * never kept past the expiry a gateway knows of.
 */
import { ApiKeyRecord, Backend, Logger } from '@studioline/server-kit';
import { KeyVerifier } from './key-verifier.js';

/** setTimeout's longest delay (about 24.8 days): a later expiry is reached in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface KeyExpiryDeps {
  backend: Backend;
  verifier: KeyVerifier;
  logger: Logger;
  /** Whether any socket of this gateway is authenticated with the key of this digest. */
  inUse(hash: string): boolean;
  /** Closes every socket of this gateway authenticated with the key of this digest. */
  closeKey(hash: string, code: 'key_expired' | 'key_revoked'): void;
}

interface Tracked {
  expiresAt: number;
  timer: NodeJS.Timeout;
}

export class KeyExpiry {
  private readonly tracked = new Map<string, Tracked>();

  constructor(private readonly deps: KeyExpiryDeps) {}

  async start(): Promise<void> {
    const { backend } = this.deps;
    await backend.bus.subscribe(backend.names.keyChanges(), (msg) => this.onKeyChanged(msg));
  }

  async stop(): Promise<void> {
    for (const t of this.tracked.values()) clearTimeout(t.timer);
    this.tracked.clear();
    await this.deps.backend.bus.unsubscribe(this.deps.backend.names.keyChanges());
  }

  /** A socket was authenticated with this key (its expiry as the check read it; none: never). */
  track(hash: string, expiresAt: number | undefined): void {
    if (expiresAt === undefined) return;
    if (this.tracked.get(hash)?.expiresAt === expiresAt) return;
    this.arm(hash, expiresAt);
  }

  private arm(hash: string, expiresAt: number): void {
    clearTimeout(this.tracked.get(hash)?.timer);
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, expiresAt - Date.now()));
    const timer = setTimeout(() => void this.check(hash, expiresAt), delay);
    timer.unref();
    this.tracked.set(hash, { expiresAt, timer });
  }

  private forget(hash: string): void {
    clearTimeout(this.tracked.get(hash)?.timer);
    this.tracked.delete(hash);
  }

  /** Reads the key again and closes its sockets if it is no longer good, else waits for its (new) expiry. */
  private async check(hash: string, knownExpiry: number | undefined): Promise<void> {
    if (!this.deps.inUse(hash)) return this.forget(hash);
    this.deps.verifier.evict(hash);
    let record: ApiKeyRecord | undefined;
    let read = true;
    try {
      record = await this.deps.backend.keys.findByHash(hash);
    } catch {
      read = false;
    }
    const now = Date.now();
    let code: 'key_expired' | 'key_revoked' | undefined;
    let expiresAt: number | undefined;
    if (!read) expiresAt = knownExpiry;
    else if (!record || record.revokedAt !== undefined) code = 'key_revoked';
    else expiresAt = record.expiresAt;
    if (!code && expiresAt !== undefined && expiresAt <= now) code = 'key_expired';
    if (code) {
      this.forget(hash);
      this.deps.logger.info({ reason: code }, 'closing the sockets of a key that is no longer valid');
      return this.deps.closeKey(hash, code);
    }
    if (expiresAt === undefined) this.forget(hash);
    else this.arm(hash, expiresAt);
  }

  /** Reads the key again now, as at a broadcast change (after an outage that may have hidden one). */
  recheck(hash: string): void {
    void this.check(hash, this.tracked.get(hash)?.expiresAt);
  }

  private onKeyChanged(msg: Buffer): void {
    let hash: unknown;
    try {
      hash = JSON.parse(msg.toString('utf8')).hash;
    } catch {
      return;
    }
    if (typeof hash !== 'string') return;
    // Evicted even when unused here: the next join must read the new expiry, not a cached one.
    this.deps.verifier.evict(hash);
    if (this.deps.inUse(hash)) void this.check(hash, this.tracked.get(hash)?.expiresAt);
  }
}
