import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KEY_LAYERS, KeyLimits, KeyLimitsError, parseKeyLimits } from '@studioline/server-kit';
import { Command } from './command.js';
import { EXIT, ExitCode } from './exit-codes.js';
import { defaultAdminUrl, studiolineHome } from './home.js';
import { causeOf } from './selftest-command.js';

export interface KeysCommandOptions {
  adminUrl: string;
  token?: string;
  name?: string;
  expires?: string;
  /** create, limits: the key's limits (absent: none). */
  limits?: KeyLimits;
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

export async function call(options: KeysCommandOptions, env: NodeJS.ProcessEnv, method: string, path: string, body?: unknown) {
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
  limits?: KeyLimits;
}

/** A key's limits in words, e.g. "peers<=10 lines<=3 mobile-only layer<=compact", or "-". */
export function describeLimits(l: KeyLimits = {}): string {
  const parts = [
    l.maxPeers !== undefined && `peers<=${l.maxPeers}`,
    l.maxLines !== undefined && `lines<=${l.maxLines}`,
    l.mobileOnly && 'mobile-only',
    l.maxLayer && l.maxLayer !== 'full' && `layer<=${l.maxLayer}`,
  ].filter(Boolean);
  return parts.length ? parts.join(' ') : '-';
}

function row(k: KeyView): string {
  return [k.id.padEnd(15), k.prefix.padEnd(6), k.status.padEnd(8), k.createdAt.padEnd(25), k.expiresAt ?? '-', ' ', k.name, ` [${describeLimits(k.limits)}]`].join(' ');
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
          ? await call(options, env, 'POST', '/v1/keys', { name: options.name ?? 'unnamed', expiresAt: options.expires, limits: options.limits })
          : await call(options, env, 'POST', `/v1/keys/${needId()}/rotate`);
      const key = data.key as KeyView;
      if (options.json) return out(JSON.stringify(data));
      return out(`${action === 'create' ? 'Created' : 'Rotated'} ${key.id} (${key.name}). The secret is shown only this once:\n${data.secret as string}`);
    }
    case 'list': {
      const data = await call(options, env, 'GET', '/v1/keys');
      if (options.json) return out(JSON.stringify(data));
      const keys = data.keys as KeyView[];
      return out(['ID              PREFIX STATUS   CREATED                   EXPIRES   NAME [LIMITS]', ...keys.map(row)].join('\n'));
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
    case 'limits': {
      const key = (await call(options, env, 'POST', `/v1/keys/${needId()}/limits`, options.limits ?? {})).key as KeyView;
      return out(options.json ? JSON.stringify(key) : `${key.id} limits: ${describeLimits(key.limits)} (from the next join on every gateway)`);
    }
    case 'audit':
      return out(JSON.stringify((await call(options, env, 'GET', '/v1/audit')).entries, null, 2));
    default:
      throw new AdminApiError(`unknown keys action "${action}" (expected create, list, show, revoke, rotate, expire, limits or audit)`);
  }
}

export const KEYS_ACTIONS = ['create', 'list', 'show', 'revoke', 'rotate', 'expire', 'limits', 'audit'] as const;

/** The limit options of `create` and `limits`, as the admin API takes them; a bad value is named. */
function limitsFrom(values: Record<string, unknown>): KeyLimits {
  try {
    return parseKeyLimits({
      maxPeers: values['max-peers'],
      maxLines: values['max-lines'],
      mobileOnly: values['mobile-only'] ? true : undefined,
      maxLayer: values['max-layer'],
    });
  } catch (err) {
    if (err instanceof KeyLimitsError) throw new AdminApiError(err.message.replace(/^(maxPeers|maxLines|mobileOnly|maxLayer)/, (f) => '--' + f.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())));
    throw err;
  }
}

export const keysCommand: Command = {
  name: 'keys',
  summary: 'manage API keys through the keys admin API: create, list, show, revoke, rotate, expire, limits, audit',
  usage: 'create --name NAME [--expires ISO-TIME] [LIMITS] | list | show ID | revoke ID | rotate ID | expire ID --expires ISO-TIME|never | limits ID [LIMITS] | audit  [options]',
  description: `Manages API keys through the keys admin API. \`create\` and \`rotate\` show the new secret once;
\`revoke\` makes every gateway refuse the key and close its sockets within a second; \`expire\` moves
a key's expiry (every gateway closes the key's calls when it is reached). \`limits\` replaces a
key's limits with the LIMITS given (--max-peers, --max-lines, --mobile-only, --max-layer; none:
no limits); every gateway applies them from the next join, across all gateways together. The API is
--admin-url, else STUDIOLINE_ADMIN_URL, else http://ADMIN_HOST:ADMIN_PORT when set, else the
server \`npm start\` runs on this machine, else http://127.0.0.1:7778. The admin token is --token,
else STUDIOLINE_ADMIN_TOKEN (or ADMIN_TOKEN), else the local server's (~/.studioline/admin-token).`,
  options: {
    'admin-url': { type: 'string', value: 'URL', description: 'the keys admin API' },
    token: { type: 'string', value: 'TOKEN', description: 'the admin bearer token' },
    name: { type: 'string', value: 'NAME', description: 'create: the key\'s name' },
    expires: { type: 'string', value: 'ISO-TIME', description: 'create, expire: when the key stops working, e.g. 2030-01-01T00:00:00Z (expire: or never)' },
    'max-peers': { type: 'string', value: 'N', description: 'create, limits: peers in calls at once with the key, across every gateway' },
    'max-lines': { type: 'string', value: 'N', description: 'create, limits: lines in use at once with the key' },
    'mobile-only': { type: 'boolean', description: 'create, limits: only mobile joins (links with mobile=1)' },
    'max-layer': { type: 'string', value: KEY_LAYERS.join('|'), description: 'create, limits: the best layer its peers may send and receive' },
    json: { type: 'boolean', description: 'print JSON' },
  },
  positionals: { min: 0, max: 2, names: ['ACTION', 'ID'] },
  examples: [
    ['npx studioline keys create --name "studio A"', 'a new key for the server on this machine (the secret is shown once)'],
    ['npx studioline keys list', 'every key with its id, prefix and status'],
    ['studioline keys revoke key_abcdefghij --admin-url http://keys-admin:7778', 'revoke a key of a deployment (STUDIOLINE_ADMIN_TOKEN set)'],
    ['npx studioline keys create --name "customer B" --max-peers 20 --max-lines 5', 'a key for at most 20 peers on at most 5 lines at once'],
    ['npx studioline keys limits key_abcdefghij --mobile-only', 'from now on the key joins only mobile peers (and has no other limit)'],
  ],
  async run({ values, positionals }, env) {
    const [action = 'list', id] = positionals;
    if (!(KEYS_ACTIONS as readonly string[]).includes(action)) throw new AdminApiError(`unknown keys action "${action}"; valid actions: ${KEYS_ACTIONS.join(', ')}`);
    await runKeys(action, id, {
      adminUrl: (values['admin-url'] as string | undefined) ?? defaultAdminUrl(env),
      token: values.token as string | undefined,
      name: values.name as string | undefined,
      expires: values.expires as string | undefined,
      limits: limitsFrom(values),
      json: Boolean(values.json),
    }, env);
  },
};
