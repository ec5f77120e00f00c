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

export class KeyService {
  constructor(private readonly backend: Backend) {}

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
    await this.backend.keys.put(record);
    await this.audit('create', record.id, actor);
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
    const record = await this.find(id);
    if (record.revokedAt === undefined) {
      record.revokedAt = Date.now();
      await this.backend.keys.put(record);
      await this.audit('revoke', id, actor);
    }
    this.broadcastRevocation(record.hash);
    return toPublicKey(record);
  }

  /**
   * Sets when a key stops working (undefined: never). Gateways close its open sockets at that time,
   * or at once when it is already past. Refused for a revoked key (it stays revoked).
   */
  async setExpiry(id: string, expiresAt: number | undefined, actor: string): Promise<PublicKey> {
    const record = await this.find(id);
    if (record.revokedAt !== undefined) throw new KeyNotFoundError(id);
    if (record.expiresAt !== expiresAt) {
      record.expiresAt = expiresAt;
      await this.backend.keys.put(record);
      await this.audit('expiry', id, actor, expiresAt === undefined ? 'never' : new Date(expiresAt).toISOString());
    }
    this.broadcastChange(record.hash);
    return toPublicKey(record);
  }

  /**
   * Sets what a key may use (replacing its limits; {} removes them). Gateways drop their cached copy
   * at once: the next join with the key meets the new limits; peers already in calls stay.
   */
  async setLimits(id: string, limits: KeyLimits, actor: string): Promise<PublicKey> {
    const record = await this.find(id);
    if (record.revokedAt !== undefined) throw new KeyNotFoundError(id);
    if (!sameKeyLimits(record.limits, limits)) {
      record.limits = emptyToUndefined(limits);
      await this.backend.keys.put(record);
      await this.audit('limits', id, actor, JSON.stringify(limits));
    }
    this.broadcastChange(record.hash);
    return toPublicKey(record);
  }

  /** Gives a key a new secret; the old secret stops working at once (its sockets are closed). */
  async rotate(id: string, actor: string): Promise<{ key: PublicKey; secret: string }> {
    const record = await this.find(id);
    if (record.revokedAt !== undefined) throw new KeyNotFoundError(id);
    const previousHash = record.hash;
    const secret = generateApiKey();
    record.hash = hashApiKey(secret);
    record.prefix = keyPrefix(secret);
    await this.backend.keys.put(record, previousHash);
    await this.audit('rotate', id, actor);
    this.broadcastRevocation(previousHash);
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
    if (existing && existing.hash !== wanted.hash) this.broadcastRevocation(existing.hash);
    else if (existing && (existing.expiresAt !== wanted.expiresAt || !sameLimits)) this.broadcastChange(wanted.hash);
  }

  async auditLog(limit = 100) {
    return this.backend.keys.audit(limit);
  }

  private async find(id: string): Promise<ApiKeyRecord> {
    const record = await this.backend.keys.findById(id);
    if (!record) throw new KeyNotFoundError(id);
    return record;
  }

  private broadcastRevocation(hash: string): void {
    this.backend.bus.publish(this.backend.names.revocations(), Buffer.from(JSON.stringify({ hash })));
  }

  /** Tells the gateways that a key's expiry changed: those holding it re-read it (key-expiry.ts). */
  private broadcastChange(hash: string): void {
    this.backend.bus.publish(this.backend.names.keyChanges(), Buffer.from(JSON.stringify({ hash })));
  }

  private audit(action: AuditEntry['action'], keyId: string, actor: string, detail?: string) {
    return this.backend.keys.appendAudit({ at: Date.now(), action, keyId, actor, detail });
  }
}

/** No limit at all is stored as none. */
function emptyToUndefined(limits?: KeyLimits): KeyLimits | undefined {
  return limits && Object.keys(limits).length ? { ...limits } : undefined;
}
