/**
 * SIP extensions: the accounts desk phones register with at the SIP bridge, each bound to one line
 * (the number the bridge knows the line by). keys-admin writes them (REST, CLI, labelled Secrets);
 * the bridge reads them. Storage only; the rules live in keys-admin.
 *
 * The password is never stored: only its digest HA1 = MD5(extension ":" realm ":" password), which
 * is what SIP digest authentication (RFC 3261 §22, RFC 2617) needs to check a phone's answer. HA1
 * lets whoever reads it answer challenges of that realm as that phone (as any digest server's store
 * does), but it is not the password: a phone's password used elsewhere does not leak with it, and
 * the generated passwords (20 random characters) are far beyond guessing from an MD5. Changing the
 * realm makes every stored HA1 useless: the bridge refuses a record of another realm.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RedisKeys } from './redis-keys.js';

export interface SipAccountRecord {
  /** The extension: the SIP user name the phone registers and authenticates as. */
  extension: string;
  /** Hex MD5 of `extension:realm:password`. */
  ha1: string;
  /** The realm the HA1 was computed for. */
  realm: string;
  /** The number of the line the extension is bound to (a line of the bridge's directory). */
  line: string;
  name: string;
  createdAt: number;
  /** Where it came from: the REST API/CLI, or a Kubernetes Secret (k8s:namespace/name). */
  source?: string;
}

/** Extensions and line numbers: SIP user parts without escapes, safe in URIs and logs. */
export const SIP_NAME = /^[A-Za-z0-9_.+-]{1,32}$/;
export const MIN_SIP_PASSWORD_LENGTH = 12;
/** The digest realm when SIP_REALM is not set (the bridge's and keys-admin's). */
export const DEFAULT_SIP_REALM = 'studioline';
export const MAX_SIP_PASSWORD_LENGTH = 128;

export class SipAccountError extends Error {
  readonly code = 'bad_request';
}

/** The digest a phone's answers are checked against (RFC 2617 §3.2.2.2, algorithm MD5). */
export function sipDigestHa1(extension: string, realm: string, password: string): string {
  return createHash('md5').update(`${extension}:${realm}:${password}`).digest('hex');
}

/** A password for a new extension: 20 characters a phone's keypad menu can still take (letters and digits). */
export function generateSipPassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  const bytes = randomBytes(20);
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

/** Throws a SipAccountError naming what is wrong with an extension, a line number or a password. */
export function checkSipAccount(input: { extension?: unknown; line?: unknown; password?: unknown }): void {
  if (typeof input.extension !== 'string' || !SIP_NAME.test(input.extension)) throw new SipAccountError('extension must be 1-32 of A-Z a-z 0-9 _ . + -');
  if (typeof input.line !== 'string' || !SIP_NAME.test(input.line)) throw new SipAccountError('line must be the line number the bridge knows it by: 1-32 of A-Z a-z 0-9 _ . + -');
  if (input.extension === input.line) throw new SipAccountError('an extension cannot have the number of the line it dials');
  checkSipPassword(input.password);
}

/** Throws a SipAccountError unless `password` is absent (one is generated) or of a usable length. */
export function checkSipPassword(password: unknown): void {
  if (password !== undefined && (typeof password !== 'string' || password.length < MIN_SIP_PASSWORD_LENGTH || password.length > MAX_SIP_PASSWORD_LENGTH)) {
    throw new SipAccountError(`password must be ${MIN_SIP_PASSWORD_LENGTH}-${MAX_SIP_PASSWORD_LENGTH} characters (leave it out to have one generated)`);
  }
}

/** The problem with a digest realm (it goes quoted into WWW-Authenticate), or undefined. */
export function sipRealmProblem(realm: string): string | undefined {
  return /^[\x21-\x7e ]{1,64}$/.test(realm) && !realm.includes('"') ? undefined : 'SIP_REALM must be 1-64 printable characters without a double quote';
}

export interface SipAccountStore {
  get(extension: string): Promise<SipAccountRecord | undefined>;
  list(): Promise<SipAccountRecord[]>;
  /** Creates or replaces the extension's record. */
  put(record: SipAccountRecord): Promise<void>;
  /** True when there was one to remove. */
  remove(extension: string): Promise<boolean>;
}

export class MemorySipAccountStore implements SipAccountStore {
  private readonly records = new Map<string, SipAccountRecord>();
  async get(extension: string) {
    const r = this.records.get(extension);
    return r && { ...r };
  }
  async list() {
    return [...this.records.values()].map((r) => ({ ...r })).sort((a, b) => a.createdAt - b.createdAt);
  }
  async put(record: SipAccountRecord) {
    this.records.set(record.extension, { ...record });
  }
  async remove(extension: string) {
    return this.records.delete(extension);
  }
}

function fromHash(h: Record<string, string>): SipAccountRecord | undefined {
  if (!h.extension || !h.ha1 || !h.realm || !h.line) return undefined;
  return { extension: h.extension, ha1: h.ha1, realm: h.realm, line: h.line, name: h.name ?? '', createdAt: Number(h.createdAt), ...(h.source ? { source: h.source } : {}) };
}

export class RedisSipAccountStore implements SipAccountStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async get(extension: string) {
    return fromHash(await this.redis.hgetall(this.keys.sipAccount(extension)));
  }

  async list() {
    const extensions = await this.redis.smembers(this.keys.sipAccounts());
    const records = await Promise.all(extensions.map((e) => this.get(e)));
    return records.filter((r): r is SipAccountRecord => r !== undefined).sort((a, b) => a.createdAt - b.createdAt);
  }

  async put(record: SipAccountRecord) {
    const fields: Record<string, string> = { extension: record.extension, ha1: record.ha1, realm: record.realm, line: record.line, name: record.name, createdAt: String(record.createdAt) };
    if (record.source) fields.source = record.source;
    await this.redis
      .multi()
      .del(this.keys.sipAccount(record.extension))
      .hset(this.keys.sipAccount(record.extension), fields)
      .sadd(this.keys.sipAccounts(), record.extension)
      .exec();
  }

  async remove(extension: string) {
    const results = await this.redis.multi().del(this.keys.sipAccount(extension)).srem(this.keys.sipAccounts(), extension).exec();
    return Number(results?.[0]?.[1] ?? 0) > 0;
  }
}
