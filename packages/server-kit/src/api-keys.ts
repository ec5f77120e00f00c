import { createHash, randomInt, timingSafeEqual } from 'node:crypto';

/** The original product's rule: at least 72 random letters a-zA-Z (about 410 bits). */
export const API_KEY_LENGTH = 72;
const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

export function generateApiKey(): string {
  let key = '';
  for (let i = 0; i < API_KEY_LENGTH; i++) key += LETTERS[randomInt(LETTERS.length)];
  return key;
}

/** Keys are stored and compared only as this digest. */
export function hashApiKey(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex digests of equal length. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** What may be shown of a secret: its first 4 characters. */
export function keyPrefix(secret: string): string {
  return secret.slice(0, 4);
}

export function generateKeyId(): string {
  let id = 'key_';
  for (let i = 0; i < 10; i++) id += LETTERS[randomInt(26)];
  return id;
}

/** The shortest API key accepted anywhere (APIKEY, links): shorter is guessable. */
export const MIN_API_KEY_LENGTH = 16;
const WELL_FORMED = /^[A-Za-z0-9._~-]+$/;

/**
 * Why `key` cannot be an API key, or undefined when it can: at least 16 characters, at most 512,
 * of letters, digits and `. _ ~ -` (characters that travel in a link unescaped). Generated keys are
 * 72 letters.
 */
export function apiKeyProblem(key: string): string | undefined {
  if (key.length < MIN_API_KEY_LENGTH) return `it is ${key.length} characters long; an API key has at least ${MIN_API_KEY_LENGTH} (generated keys have ${API_KEY_LENGTH} letters)`;
  if (key.length > 512) return 'it is longer than 512 characters';
  if (!WELL_FORMED.test(key)) return 'it holds characters other than letters, digits and . _ ~ -';
  return undefined;
}

/** The layers a key's peers may be limited to: the full rate, or only the compact (Opus) layer. */
export const KEY_LAYERS = ['full', 'compact'] as const;
export type KeyLayer = (typeof KEY_LAYERS)[number];

/**
 * What one API key may use, across every gateway (absent: no limit). Set through keys-admin (REST,
 * CLI, or a mirrored Secret's annotations), enforced by the gateways when a peer joins.
 */
export interface KeyLimits {
  /** Peers in calls at once with this key. */
  maxPeers?: number;
  /** Lines in use at once with this key (a line counts while a peer that joined with the key is on it). */
  maxLines?: number;
  /** Only mobile joins (`mobile=1`: the compact layer only). */
  mobileOnly?: boolean;
  /** The best layer its peers may send and receive ('compact': never the full rate). */
  maxLayer?: KeyLayer;
}

/** The largest count a limit may be set to. */
export const MAX_KEY_LIMIT = 1_000_000;

export class KeyLimitsError extends Error {
  readonly code = 'bad_request';
}

/**
 * Reads key limits from an admin request's JSON or a Secret's annotations (numbers may come as
 * strings there): each field absent, null or empty means no limit. Throws {@link KeyLimitsError}
 * naming the field for anything else, and for unknown fields.
 */
export function parseKeyLimits(input: unknown): KeyLimits {
  if (input === undefined || input === null) return {};
  if (typeof input !== 'object' || Array.isArray(input)) throw new KeyLimitsError('limits must be an object: { maxPeers?, maxLines?, mobileOnly?, maxLayer? }');
  const fields = input as Record<string, unknown>;
  const limits: KeyLimits = {};
  const given = (name: string) => fields[name] !== undefined && fields[name] !== null && fields[name] !== '';
  for (const name of ['maxPeers', 'maxLines'] as const) {
    if (!given(name)) continue;
    const raw = fields[name];
    const n = typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_KEY_LIMIT) throw new KeyLimitsError(`${name} must be a whole number from 1 to ${MAX_KEY_LIMIT} (or absent for no limit)`);
    limits[name] = n;
  }
  if (given('mobileOnly')) {
    const raw = fields.mobileOnly;
    const b = raw === true || raw === 'true' ? true : raw === false || raw === 'false' ? false : undefined;
    if (b === undefined) throw new KeyLimitsError('mobileOnly must be true or false');
    if (b) limits.mobileOnly = true;
  }
  if (given('maxLayer')) {
    if (!(KEY_LAYERS as readonly unknown[]).includes(fields.maxLayer)) throw new KeyLimitsError(`maxLayer must be one of ${KEY_LAYERS.join(', ')}`);
    if (fields.maxLayer !== 'full') limits.maxLayer = fields.maxLayer as KeyLayer;
  }
  const unknown = Object.keys(fields).filter((k) => !['maxPeers', 'maxLines', 'mobileOnly', 'maxLayer'].includes(k));
  if (unknown.length) throw new KeyLimitsError(`unknown limit ${unknown[0]} (expected maxPeers, maxLines, mobileOnly, maxLayer)`);
  return limits;
}

/** True when two sets of limits say the same. */
export function sameKeyLimits(a: KeyLimits = {}, b: KeyLimits = {}): boolean {
  return a.maxPeers === b.maxPeers && a.maxLines === b.maxLines && Boolean(a.mobileOnly) === Boolean(b.mobileOnly) && (a.maxLayer ?? 'full') === (b.maxLayer ?? 'full');
}
