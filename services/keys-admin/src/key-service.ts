/**
 * The rules of API keys: generation (the secret is returned once and stored only as a digest),
 * revocation and rotation (broadcast so that every gateway closes the key's sockets at once),
 * expiry changes (broadcast so that every gateway holding the key moves its expiry timer), limits
 * (broadcast so that gateways drop the cached record: the next join meets the new limits), and the
 * audit log.
 */
import { ApiKeyRecord, AuditEntry, Backend, KeyLimits, generateApiKey, generateKeyId, hashApiKey, keyPrefix, sameKeyLimits } from '@studioline/server-kit';

export class KeyNotFoundError extends Error {
  readonly code = 'not_found';
  constructor(id: string) {
    super(`no API key with id ${id}`);
  }
}

/** What the API shows of a key: never the secret, never its digest. */
export interface PublicKey {
  id: string;
  name: string;
  prefix: string;
  createdAt: string;
  expiresAt?: string;
  revokedAt?: string;
  status: 'active' | 'revoked' | 'expired';
  source?: string;
  /** What the key may use ({}: no limits). */
  limits: KeyLimits;
}

export function toPublicKey(record: ApiKeyRecord, now = Date.now()): PublicKey {
  const iso = (ms?: number) => (ms === undefined ? undefined : new Date(ms).toISOString());
  return {
    id: record.id,
    name: record.name,
    prefix: record.prefix,
    createdAt: iso(record.createdAt) as string,
    expiresAt: iso(record.expiresAt),
    revokedAt: iso(record.revokedAt),
    status: record.revokedAt !== undefined ? 'revoked' : record.expiresAt !== undefined && record.expiresAt <= now ? 'expired' : 'active',
    source: record.source,
    limits: { ...record.limits },
  };
}

/** A key as a Kubernetes Secret describes it (only its digest and prefix, never the secret). */
export interface MirroredKey {
  source: string;
  name: string;
  hash: string;
  prefix: string;
  expiresAt?: number;
  limits?: KeyLimits;
}

export interface CreateKeyOptions {
  name: string;
  expiresAt?: number;
  limits?: KeyLimits;
  source?: string;
  /** Use this secret instead of generating one (keys synced from Kubernetes Secrets). */
  secret?: string;
}

/**
 * How long a change (create, revoke, rotate, expiry) rides out an unreachable store before it fails
 * with 503: long enough for a Sentinel or Cluster failover (a few seconds), short enough for a
 * person at the CLI.
 */
export const STORE_RETRY_MS = 15_000;
/** The pause between two attempts while the store is unreachable. */
const RETRY_PAUSE_MS = 200;

export class KeyService {
  constructor(
    private readonly backend: Backend,
    private readonly retryMs = STORE_RETRY_MS,
  ) {}

  async create(options: CreateKeyOptions, actor: string): Promise<{ key: PublicKey; secret: string }> {
    const secret = options.secret ?? generateApiKey();
    const record: ApiKeyRecord = {
      id: generateKeyId(),
      name: options.name,
      prefix: keyPrefix(secret),
      hash: hashApiKey(secret),
      createdAt: Date.now(),
      expiresAt: options.expiresAt,
      source: options.source,
      limits: emptyToUndefined(options.limits),
    };
    // Made once, written until it holds: a retry writes the same key again, never a second one.
    await this.riding(async () => {
      await this.backend.keys.put(record);
      await this.audit('create', record.id, actor);
    });
    return { key: toPublicKey(record), secret };
  }

  async list(): Promise<PublicKey[]> {
    return (await this.backend.keys.list()).map((r) => toPublicKey(r));
  }

  async get(id: string): Promise<PublicKey> {
    return toPublicKey(await this.find(id));
  }

  /** Revokes a key; every gateway refuses it and closes its sockets at once. Idempotent. */
  async revoke(id: string, actor: string): Promise<PublicKey> {
    let revokedAt: number | undefined;
    const record = await this.riding(async () => {
      const r = await this.find(id);
      // Revoked by an earlier attempt of this call (reached the primary, not yet a replica): written again.
      if (r.revokedAt === undefined || revokedAt !== undefined) {
        r.revokedAt = revokedAt ??= Date.now();
        await this.backend.keys.put(r);
        await this.audit('revoke', id, actor);
      }
      return r;
    });
    await this.broadcastRevocation(record.hash);
    return toPublicKey(record);
  }

  /**
   * Sets when a key stops working (undefined: never). Gateways close its open sockets at that time,
   * or at once when it is already past. Refused for a revoked key (it stays revoked).
   */
  async setExpiry(id: string, expiresAt: number | undefined, actor: string): Promise<PublicKey> {
    let attempted = false;
    const record = await this.riding(async () => {
      const r = await this.find(id);
      if (r.revokedAt !== undefined) throw new KeyNotFoundError(id);
      if (r.expiresAt !== expiresAt || attempted) {
        attempted = true;
        r.expiresAt = expiresAt;
        await this.backend.keys.put(r);
        await this.audit('expiry', id, actor, expiresAt === undefined ? 'never' : new Date(expiresAt).toISOString());
      }
      return r;
    });
    await this.broadcastChange(record.hash);
    return toPublicKey(record);
  }

  /**
   * Sets what a key may use (replacing its limits; {} removes them). Gateways drop their cached copy
   * at once: the next join with the key meets the new limits; peers already in calls stay.
   */
  async setLimits(id: string, limits: KeyLimits, actor: string): Promise<PublicKey> {
    let attempted = false;
    const record = await this.riding(async () => {
      const r = await this.find(id);
      if (r.revokedAt !== undefined) throw new KeyNotFoundError(id);
      // Like an expiry change: an earlier attempt of this call may have reached only the primary.
      if (!sameKeyLimits(r.limits, limits) || attempted) {
        attempted = true;
        r.limits = emptyToUndefined(limits);
        await this.backend.keys.put(r);
        await this.audit('limits', id, actor, JSON.stringify(limits));
      }
      return r;
    });
    await this.broadcastChange(record.hash);
    return toPublicKey(record);
  }

  /** Gives a key a new secret; the old secret stops working at once (its sockets are closed). */
  async rotate(id: string, actor: string): Promise<{ key: PublicKey; secret: string }> {
    const secret = generateApiKey();
    let previousHash: string | undefined;
    const record = await this.riding(async () => {
      const r = await this.find(id);
      if (r.revokedAt !== undefined) throw new KeyNotFoundError(id);
      // A retry may find the new secret in place already (the write reached the primary): it
      // writes it again, with the first attempt's previous secret.
      if (previousHash === undefined && r.hash !== hashApiKey(secret)) previousHash = r.hash;
      if (previousHash !== undefined) {
        r.hash = hashApiKey(secret);
        r.prefix = keyPrefix(secret);
        await this.backend.keys.put(r, previousHash);
        await this.audit('rotate', id, actor);
      }
      return r;
    });
    if (previousHash) await this.broadcastRevocation(previousHash);
    return { key: toPublicKey(record), secret };
  }

  /**
   * Creates, rotates or un-revokes the key mirrored from `wanted.source` (a Kubernetes Secret) so
   * that it matches `wanted.hash`; a changed hash revokes the old secret at once.
   */
  async sync(wanted: MirroredKey): Promise<void> {
    await this.syncOne(wanted, (await this.backend.keys.list()).find((r) => r.source === wanted.source));
  }

  /**
   * Makes the keys mirrored from sources starting with `prefix` match `wanted` exactly: one read of
   * the store for the whole list; keys whose source is no longer wanted are revoked.
   */
  async resync(prefix: string, wanted: MirroredKey[], actor: string): Promise<void> {
    const records = await this.backend.keys.list();
    for (const w of wanted) await this.syncOne(w, records.find((r) => r.source === w.source));
    const keep = new Set(wanted.map((w) => w.source));
    for (const r of records) {
      if (r.source?.startsWith(prefix) && !keep.has(r.source) && r.revokedAt === undefined) await this.revoke(r.id, actor);
    }
  }

  /** Revokes the key mirrored from `source`, if any (its Secret was deleted). */
  async revokeBySource(source: string, actor: string): Promise<void> {
    const record = (await this.backend.keys.list()).find((r) => r.source === source && r.revokedAt === undefined);
    if (record) await this.revoke(record.id, actor);
  }

  private async syncOne(wanted: MirroredKey, existing: ApiKeyRecord | undefined): Promise<void> {
    const sameLimits = sameKeyLimits(existing?.limits, wanted.limits);
    if (existing && existing.hash === wanted.hash && existing.revokedAt === undefined && existing.expiresAt === wanted.expiresAt && existing.name === wanted.name && sameLimits) return;
    const record: ApiKeyRecord = {
      id: existing?.id ?? generateKeyId(),
      name: wanted.name,
      prefix: wanted.prefix,
      hash: wanted.hash,
      createdAt: existing?.createdAt ?? Date.now(),
      expiresAt: wanted.expiresAt,
      source: wanted.source,
      limits: emptyToUndefined(wanted.limits),
    };
    await this.backend.keys.put(record, existing?.hash);
    await this.audit(existing ? (existing.hash !== wanted.hash ? 'rotate' : 'sync') : 'create', record.id, 'k8s-secret-sync');
    if (existing && existing.hash !== wanted.hash) await this.broadcastRevocation(existing.hash);
    else if (existing && (existing.expiresAt !== wanted.expiresAt || !sameLimits)) await this.broadcastChange(wanted.hash);
  }

  async auditLog(limit = 100) {
    return this.backend.keys.audit(limit);
  }

  private async find(id: string): Promise<ApiKeyRecord> {
    const record = await this.backend.keys.findById(id);
    if (!record) throw new KeyNotFoundError(id);
    return record;
  }

  private broadcastRevocation(hash: string): Promise<void> {
    return this.broadcast(this.backend.names.revocations(), hash);
  }

  /** Tells the gateways that a key's expiry changed: those holding it re-read it (key-expiry.ts). */
  private broadcastChange(hash: string): Promise<void> {
    return this.broadcast(this.backend.names.keyChanges(), hash);
  }

  /**
   * Publishes, waiting (up to the retry time) for the bus while it is down: a broadcast dropped
   * during a failover would leave the key's sockets open on gateways that never lost their own
   * connections. (Gateways that did lose theirs check their keys again once back: authentication.ts.)
   */
  private async broadcast(channel: string, hash: string): Promise<void> {
    const message = Buffer.from(JSON.stringify({ hash }));
    const until = Date.now() + this.retryMs;
    while (!this.backend.bus.publish(channel, message) && Date.now() < until) await this.backend.waitReady(Math.min(RETRY_PAUSE_MS, until - Date.now()));
  }

  /**
   * Runs a change, riding out an unreachable store (a failover) or a write no replica has
   * confirmed: it is tried again until it succeeds or the retry time has passed. The key record is
   * replaced whole, so writing it twice is writing it once; an audit entry may then be written
   * twice (at least once, never lost).
   */
  private async riding<T>(change: () => Promise<T>): Promise<T> {
    const until = Date.now() + this.retryMs;
    for (;;) {
      try {
        return await change();
      } catch (err) {
        if (err instanceof KeyNotFoundError || Date.now() >= until) throw err;
        await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));
        await this.backend.waitReady(Math.max(0, until - Date.now()));
      }
    }
  }

  private audit(action: AuditEntry['action'], keyId: string, actor: string, detail?: string) {
    return this.backend.keys.appendAudit({ at: Date.now(), action, keyId, actor, detail });
  }
}

/** No limit at all is stored as none. */
function emptyToUndefined(limits?: KeyLimits): KeyLimits | undefined {
  return limits && Object.keys(limits).length ? { ...limits } : undefined;
}
