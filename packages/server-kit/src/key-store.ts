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
  /** An API key's (keyId its id), or a SIP extension's (`sip_…`; keyId `sip:EXTENSION`). */
  action: 'create' | 'revoke' | 'rotate' | 'sync' | 'expiry' | 'limits' | 'sip_create' | 'sip_delete' | 'sip_password' | 'sip_sync';
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

/** How many replicas must hold a write of key data before it counts as done (see RedisBackendOptions). */
export interface WriteDurability {
  replicas: number;
  waitMs: number;
}

/** A write reached the primary but not enough replicas in time: a failover now could lose it. */
export class NotReplicatedError extends Error {
  readonly code = 'not_replicated';
  constructor(acknowledged: number, wanted: number, waitMs: number) {
    super(`the write reached the Redis primary but only ${acknowledged} of ${wanted} replica(s) acknowledged it within ${waitMs} ms`);
  }
}

type Command = [string, ...(string | number)[]];

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
    private readonly durability: WriteDurability = { replicas: 0, waitMs: 0 },
  ) {}

  async put(record: ApiKeyRecord, previousHash?: string): Promise<void> {
    const commands: Command[] = [];
    if (previousHash && previousHash !== record.hash) commands.push(['del', this.keys.apiKey(previousHash)]);
    // Replace the whole hash so that cleared fields (e.g. revokedAt) do not linger.
    commands.push(['del', this.keys.apiKey(record.hash)]);
    commands.push(['hset', this.keys.apiKey(record.hash), ...Object.entries(toHash(record)).flat()]);
    commands.push(['set', this.keys.apiKeyId(record.id), record.hash]);
    commands.push(['sadd', this.keys.apiKeyIds(), record.id]);
    await this.write(commands);
  }

  /**
   * One transaction (MULTI/EXEC), then, on the same connection, WAIT for the replicas: WAIT
   * blocks only outside a transaction, and counts the writes sent before it on its connection.
   * A pipeline keeps both on the one connection (on a Cluster: the node of the keys' slot).
   */
  private async write(commands: Command[]): Promise<void> {
    const { replicas, waitMs } = this.durability;
    const batch: Command[] = [['multi'], ...commands, ['exec']];
    if (replicas > 0) batch.push(['wait', replicas, waitMs]);
    const results = (await this.redis.pipeline(batch).exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
    if (replicas > 0) {
      const acknowledged = Number(results.at(-1)![1]);
      if (acknowledged < replicas) throw new NotReplicatedError(acknowledged, replicas, waitMs);
    }
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
    await this.write([
      ['lpush', this.keys.audit(), JSON.stringify(entry)],
      ['ltrim', this.keys.audit(), 0, AUDIT_LIMIT - 1],
    ]);
  }

  async audit(limit: number) {
    return (await this.redis.lrange(this.keys.audit(), 0, limit - 1)).map((s) => JSON.parse(s) as AuditEntry);
  }
}
