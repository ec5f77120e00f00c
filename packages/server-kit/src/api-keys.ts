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
