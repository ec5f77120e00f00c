/**
 * Secrets the embedded server makes for itself on first start, so that `npm start` works with
 * nothing configured: an API key and an admin token, in files readable only by their owner
 * (never in a log). STUDIOLINE_HOME (default ~/.studioline) says where.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { generateApiKey } from '@studioline/server-kit';
import { randomBytes } from 'node:crypto';

export function studiolineHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.STUDIOLINE_HOME || join(homedir(), '.studioline');
}

function readOrCreate(home: string, name: string, make: () => string): { value: string; path: string; created: boolean } {
  const path = join(home, name);
  if (existsSync(path)) return { value: readFileSync(path, 'utf8').trim(), path, created: false };
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const value = make();
  writeFileSync(path, value + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return { value, path, created: true };
}

export function localApiKey(home: string) {
  return readOrCreate(home, 'apikey', generateApiKey);
}

export function localAdminToken(home: string) {
  return readOrCreate(home, 'admin-token', () => randomBytes(24).toString('base64url'));
}

/** The API key for links made on this machine: APIKEY, else the local file (not created here). */
export function apiKeyForLinks(env: NodeJS.ProcessEnv): string | undefined {
  if (env.APIKEY) return env.APIKEY.split(',')[0].trim();
  const path = join(studiolineHome(env), 'apikey');
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}
