/**
 * Secrets the embedded server makes for itself on first start, so that `npm start` works with
 * nothing configured: an API key and an admin token, in files readable only by their owner
 * (never in a log). STUDIOLINE_HOME (default ~/.studioline) says where.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/**
 * Where the embedded server on this machine listens, written while it runs (server.json in the
 * home), so that `link`, `peer`, `selftest` and `keys` in another terminal find it on whatever port
 * it got, with nothing to pass.
 */
export interface LocalServer {
  url: string;
  adminUrl?: string;
  pid: number;
}

const SERVER_FILE = 'server.json';

export function writeLocalServer(home: string, server: Omit<LocalServer, 'pid'>): () => void {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const path = join(home, SERVER_FILE);
  writeFileSync(path, JSON.stringify({ ...server, pid: process.pid }) + '\n', { mode: 0o600 });
  return () => {
    try {
      const current = JSON.parse(readFileSync(path, 'utf8')) as LocalServer;
      if (current.pid === process.pid) rmSync(path);
    } catch {
      /* already gone */
    }
  };
}

function runningLocalServer(env: NodeJS.ProcessEnv): LocalServer | undefined {
  try {
    const server = JSON.parse(readFileSync(join(studiolineHome(env), SERVER_FILE), 'utf8')) as LocalServer;
    process.kill(server.pid, 0); // throws when that process is gone: the file is stale
    return server;
  } catch {
    return undefined;
  }
}

/** A listening address as a URL a client can use: a wildcard address means this machine. */
export function reachableUrl(host: string, port: string | number): string {
  const h = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

export const DEFAULT_GATEWAY_URL = 'http://127.0.0.1:7777';
export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:7778';

/** The gateway to call when no URL is given: PUBLIC_URL, else HOST/PORT, else the running local server, else 127.0.0.1:7777. */
export function defaultGatewayUrl(env: NodeJS.ProcessEnv): string {
  if (env.PUBLIC_URL) return env.PUBLIC_URL.replace(/\/$/, '');
  if (env.PORT || env.HOST) return reachableUrl(env.HOST || '127.0.0.1', env.PORT || 7777);
  return runningLocalServer(env)?.url ?? DEFAULT_GATEWAY_URL;
}

/** The keys admin API when no URL is given: STUDIOLINE_ADMIN_URL, else ADMIN_HOST/ADMIN_PORT, else the running local server, else 127.0.0.1:7778. */
export function defaultAdminUrl(env: NodeJS.ProcessEnv): string {
  if (env.STUDIOLINE_ADMIN_URL) return env.STUDIOLINE_ADMIN_URL.replace(/\/$/, '');
  if (env.ADMIN_PORT || env.ADMIN_HOST) return reachableUrl(env.ADMIN_HOST || '127.0.0.1', env.ADMIN_PORT || 7778);
  return runningLocalServer(env)?.adminUrl ?? DEFAULT_ADMIN_URL;
}
