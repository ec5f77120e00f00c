import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from './command.js';
import { EXIT, ExitCode } from './exit-codes.js';
import { defaultAdminUrl, studiolineHome } from './home.js';
import { causeOf } from './selftest-command.js';

export interface KeysCommandOptions {
  adminUrl: string;
  token?: string;
  name?: string;
  expires?: string;
  json: boolean;
}

export class AdminApiError extends Error {
  readonly code = 'admin_api';
  constructor(
    message: string,
    /** 3 when the API answered no, 4 when it could not be reached, 2 for a mistake in the command. */
    readonly exitCode: ExitCode = EXIT.usage,
  ) {
    super(message);
  }
}

function adminToken(options: KeysCommandOptions, env: NodeJS.ProcessEnv): string {
  const token = options.token ?? env.STUDIOLINE_ADMIN_TOKEN ?? env.ADMIN_TOKEN;
  if (token) return token;
  const file = join(studiolineHome(env), 'admin-token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  throw new AdminApiError('no admin token: pass --token, set STUDIOLINE_ADMIN_TOKEN, or run the embedded server on this machine first (`npm start` makes one)');
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
    if (err instanceof AdminApiError) throw err;
    throw new AdminApiError(`cannot reach the keys admin API at ${options.adminUrl}: ${causeOf(err)} (set --admin-url, STUDIOLINE_ADMIN_URL or ADMIN_PORT)`, EXIT.unreachable);
  }
  const data = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) throw new AdminApiError(`${res.status} ${String(data.message ?? data.error ?? res.statusText)}`, EXIT.refused);
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

/** `studioline keys create|list|show|revoke|rotate|expire|audit`. Returns what it printed, for tests. */
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
    case 'expire': {
      if (!options.expires) throw new AdminApiError('keys expire needs --expires ISO-TIME (or --expires never)');
      const expiresAt = options.expires === 'never' ? null : options.expires;
      const key = (await call(options, env, 'POST', `/v1/keys/${needId()}/expiry`, { expiresAt })).key as KeyView;
      return out(options.json ? JSON.stringify(key) : `${key.id} ${key.expiresAt ? `expires at ${key.expiresAt}` : 'never expires'}: every gateway closes its calls then.`);
    }
    case 'audit':
      return out(JSON.stringify((await call(options, env, 'GET', '/v1/audit')).entries, null, 2));
    default:
      throw new AdminApiError(`unknown keys action "${action}" (expected create, list, show, revoke, rotate, expire or audit)`);
  }
}

export const KEYS_ACTIONS = ['create', 'list', 'show', 'revoke', 'rotate', 'expire', 'audit'] as const;

export const keysCommand: Command = {
  name: 'keys',
  summary: 'manage API keys through the keys admin API: create, list, show, revoke, rotate, expire, audit',
  usage: 'create --name NAME [--expires ISO-TIME] | list | show ID | revoke ID | rotate ID | expire ID --expires ISO-TIME|never | audit  [options]',
  description: `Manages API keys through the keys admin API. \`create\` and \`rotate\` show the new secret once;
\`revoke\` makes every gateway refuse the key and close its sockets within a second; \`expire\` moves
a key's expiry (every gateway closes the key's calls when it is reached). The API is
--admin-url, else STUDIOLINE_ADMIN_URL, else http://ADMIN_HOST:ADMIN_PORT when set, else the
server \`npm start\` runs on this machine, else http://127.0.0.1:7778. The admin token is --token,
else STUDIOLINE_ADMIN_TOKEN (or ADMIN_TOKEN), else the local server's (~/.studioline/admin-token).`,
  options: {
    'admin-url': { type: 'string', value: 'URL', description: 'the keys admin API' },
    token: { type: 'string', value: 'TOKEN', description: 'the admin bearer token' },
    name: { type: 'string', value: 'NAME', description: 'create: the key\'s name' },
    expires: { type: 'string', value: 'ISO-TIME', description: 'create, expire: when the key stops working, e.g. 2030-01-01T00:00:00Z (expire: or never)' },
    json: { type: 'boolean', description: 'print JSON' },
  },
  positionals: { min: 0, max: 2, names: ['ACTION', 'ID'] },
  examples: [
    ['npx studioline keys create --name "studio A"', 'a new key for the server on this machine (the secret is shown once)'],
    ['npx studioline keys list', 'every key with its id, prefix and status'],
    ['studioline keys revoke key_abcdefghij --admin-url http://keys-admin:7778', 'revoke a key of a deployment (STUDIOLINE_ADMIN_TOKEN set)'],
  ],
  async run({ values, positionals }, env) {
    const [action = 'list', id] = positionals;
    if (!(KEYS_ACTIONS as readonly string[]).includes(action)) throw new AdminApiError(`unknown keys action "${action}"; valid actions: ${KEYS_ACTIONS.join(', ')}`);
    await runKeys(action, id, {
      adminUrl: (values['admin-url'] as string | undefined) ?? defaultAdminUrl(env),
      token: values.token as string | undefined,
      name: values.name as string | undefined,
      expires: values.expires as string | undefined,
      json: Boolean(values.json),
    }, env);
  },
};
