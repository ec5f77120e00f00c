/**
 * Persistence of API keys (as SHA-256 digests, never the secrets) and of the audit log. The rules
 * (generation, revocation broadcast, rotation) live in keys-admin; this is storage only.
 */
import type { Redis } from 'ioredis';
import { KeyLimits, parseKeyLimits } from './api-keys.js';
import { RedisKeys } from './redis-keys.js';

export interface ApiKeyRecord {
  id: string;
  name: string;
  /** The secret's first 4 characters, to recognise it in a list. */
  prefix: string;
  /** Hex SHA-256 of the secret. */
  hash: string;
  createdAt: number;
  expiresAt?: number;
  revokedAt?: number;
  /** Where the key came from: the REST API/CLI, or a Kubernetes Secret (namespace/name). */
  source?: string;
  /** What the key may use (absent: no limits). Stored as JSON in the hash's `limits` field. */
  limits?: KeyLimits;
}

export interface AuditEntry {
  at: number;
  action: 'create' | 'revoke' | 'rotate' | 'sync' | 'expiry' | 'limits';
  keyId: string;
  actor: string;
  detail?: string;
}

export interface KeyStore {
  /** Creates or replaces a key; when the hash changed (rotation), `previousHash` stops resolving. */
  put(record: ApiKeyRecord, previousHash?: string): Promise<void>;
  findByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  findById(id: string): Promise<ApiKeyRecord | undefined>;
  list(): Promise<ApiKeyRecord[]>;
  appendAudit(entry: AuditEntry): Promise<void>;
  /** Newest first. */
  audit(limit: number): Promise<AuditEntry[]>;
}

/** The audit log keeps this many entries. */
export const AUDIT_LIMIT = 10_000;

export class MemoryKeyStore implements KeyStore {
  private readonly byHash = new Map<string, ApiKeyRecord>();
  private readonly hashById = new Map<string, string>();
  private readonly entries: AuditEntry[] = [];

  async put(record: ApiKeyRecord, previousHash?: string): Promise<void> {
    if (previousHash && previousHash !== record.hash) this.byHash.delete(previousHash);
    this.byHash.set(record.hash, { ...record });
    this.hashById.set(record.id, record.hash);
  }
  async findByHash(hash: string) {
    const r = this.byHash.get(hash);
    return r && { ...r };
  }
  async findById(id: string) {
    const hash = this.hashById.get(id);
    return hash === undefined ? undefined : this.findByHash(hash);
  }
  async list() {
    return [...this.hashById.values()].map((h) => ({ ...(this.byHash.get(h) as ApiKeyRecord) }));
  }
  async appendAudit(entry: AuditEntry) {
    this.entries.unshift(entry);
    this.entries.length = Math.min(this.entries.length, AUDIT_LIMIT);
  }
  async audit(limit: number) {
    return this.entries.slice(0, limit);
  }
}

function toHash(record: ApiKeyRecord): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(record)) if (v !== undefined) out[k] = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return out;
}

function fromHash(fields: Record<string, string>): ApiKeyRecord | undefined {
  if (!fields.id || !fields.hash) return undefined;
  const num = (v?: string) => (v === undefined ? undefined : Number(v));
  return {
    id: fields.id,
    name: fields.name ?? '',
    prefix: fields.prefix ?? '',
    hash: fields.hash,
    createdAt: Number(fields.createdAt),
    expiresAt: num(fields.expiresAt),
    revokedAt: num(fields.revokedAt),
    source: fields.source,
    limits: readLimits(fields.limits),
  };
}

/** A stored `limits` field; one that cannot be read counts as none (keys-admin writes it valid). */
function readLimits(text?: string): KeyLimits | undefined {
  if (!text) return undefined;
  try {
    return parseKeyLimits(JSON.parse(text));
  } catch {
    return undefined;
  }
}

export class RedisKeyStore implements KeyStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async put(record: ApiKeyRecord, previousHash?: string): Promise<void> {
    const tx = this.redis.multi();
    if (previousHash && previousHash !== record.hash) tx.del(this.keys.apiKey(previousHash));
    // Replace the whole hash so that cleared fields (e.g. revokedAt) do not linger.
    tx.del(this.keys.apiKey(record.hash));
    tx.hset(this.keys.apiKey(record.hash), toHash(record));
    tx.set(this.keys.apiKeyId(record.id), record.hash);
    tx.sadd(this.keys.apiKeyIds(), record.id);
    await tx.exec();
  }

  async findByHash(hash: string) {
    return fromHash(await this.redis.hgetall(this.keys.apiKey(hash)));
  }

  async findById(id: string) {
    const hash = await this.redis.get(this.keys.apiKeyId(id));
    return hash ? this.findByHash(hash) : undefined;
  }

  async list() {
    const ids = await this.redis.smembers(this.keys.apiKeyIds());
    const records = await Promise.all(ids.map((id) => this.findById(id)));
    return records.filter((r): r is ApiKeyRecord => r !== undefined).sort((a, b) => a.createdAt - b.createdAt);
  }

  async appendAudit(entry: AuditEntry) {
    await this.redis.multi().lpush(this.keys.audit(), JSON.stringify(entry)).ltrim(this.keys.audit(), 0, AUDIT_LIMIT - 1).exec();
  }

  async audit(limit: number) {
    return (await this.redis.lrange(this.keys.audit(), 0, limit - 1)).map((s) => JSON.parse(s) as AuditEntry);
  }
}
