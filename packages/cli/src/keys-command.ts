import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { studiolineHome } from './home.js';

export interface KeysCommandOptions {
  adminUrl: string;
  token?: string;
  name?: string;
  expires?: string;
  json: boolean;
}

export class AdminApiError extends Error {
  readonly code = 'admin_api';
}

function adminToken(options: KeysCommandOptions, env: NodeJS.ProcessEnv): string {
  const token = options.token ?? env.STUDIOLINE_ADMIN_TOKEN ?? env.ADMIN_TOKEN;
  if (token) return token;
  const file = join(studiolineHome(env), 'admin-token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  throw new AdminApiError('no admin token: pass --token, set STUDIOLINE_ADMIN_TOKEN, or run the embedded server on this machine first');
}

async function call(options: KeysCommandOptions, env: NodeJS.ProcessEnv, method: string, path: string, body?: unknown) {
  let res: Response;
  try {
    res = await fetch(options.adminUrl.replace(/\/$/, '') + path, {
      method,
      headers: { authorization: `Bearer ${adminToken(options, env)}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (err) {
    throw new AdminApiError(`cannot reach the keys admin API at ${options.adminUrl}: ${(err as Error).message}`);
  }
  const data = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) throw new AdminApiError(`${res.status} ${String(data.message ?? data.error ?? res.statusText)}`);
  return data;
}

interface KeyView {
  id: string;
  name: string;
  prefix: string;
  status: string;
  createdAt: string;
  expiresAt?: string;
}

function row(k: KeyView): string {
  return [k.id.padEnd(15), k.prefix.padEnd(6), k.status.padEnd(8), k.createdAt.padEnd(25), k.expiresAt ?? '-', ' ', k.name].join(' ');
}

/** `studioline keys create|list|show|revoke|rotate|audit`. Returns what it printed, for tests. */
export async function runKeys(action: string, id: string | undefined, options: KeysCommandOptions, env: NodeJS.ProcessEnv): Promise<string> {
  const out = (text: string) => {
    process.stdout.write(text + '\n');
    return text;
  };
  const needId = () => {
    if (!id) throw new AdminApiError(`keys ${action} needs a key id (see: studioline keys list)`);
    return encodeURIComponent(id);
  };
  switch (action) {
    case 'create':
    case 'rotate': {
      const data =
        action === 'create'
          ? await call(options, env, 'POST', '/v1/keys', { name: options.name ?? 'unnamed', expiresAt: options.expires })
          : await call(options, env, 'POST', `/v1/keys/${needId()}/rotate`);
      const key = data.key as KeyView;
      if (options.json) return out(JSON.stringify(data));
      return out(`${action === 'create' ? 'Created' : 'Rotated'} ${key.id} (${key.name}). The secret is shown only this once:\n${data.secret as string}`);
    }
    case 'list': {
      const data = await call(options, env, 'GET', '/v1/keys');
      if (options.json) return out(JSON.stringify(data));
      const keys = data.keys as KeyView[];
      return out(['ID              PREFIX STATUS   CREATED                   EXPIRES   NAME', ...keys.map(row)].join('\n'));
    }
    case 'show':
      return out(JSON.stringify((await call(options, env, 'GET', `/v1/keys/${needId()}`)).key, null, 2));
    case 'revoke': {
      const key = (await call(options, env, 'POST', `/v1/keys/${needId()}/revoke`)).key as KeyView;
      return out(options.json ? JSON.stringify(key) : `Revoked ${key.id}: every gateway refuses it now.`);
    }
    case 'audit':
      return out(JSON.stringify((await call(options, env, 'GET', '/v1/audit')).entries, null, 2));
    default:
      throw new AdminApiError(`unknown keys action "${action}" (expected create, list, show, revoke, rotate or audit)`);
  }
}
