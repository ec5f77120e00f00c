/**
 * `studioline sip`: the SIP bridge's extensions (desk phones' accounts), through the keys admin
 * API like API keys. A password is shown once (generated unless --password is given) and kept only
 * as its digest for the SIP realm.
 */
import { Command } from './command.js';
import { defaultAdminUrl } from './home.js';
import type { PublicSipExtension } from '@studioline/keys-admin';
import { AdminApiError, KeysCommandOptions, call } from './keys-command.js';

export interface SipCommandOptions extends KeysCommandOptions {
  extension?: string;
  line?: string;
  password?: string;
}

export const SIP_ACTIONS = ['create', 'list', 'show', 'delete', 'password'] as const;

function row(e: PublicSipExtension): string {
  return [e.extension.padEnd(12), e.line.padEnd(12), e.createdAt.padEnd(25), (e.source ?? 'api').padEnd(8), e.name].join(' ');
}

/** `studioline sip create|list|show|delete|password`. Returns what it printed, for tests. */
export async function runSip(action: string, positional: string | undefined, options: SipCommandOptions, env: NodeJS.ProcessEnv): Promise<string> {
  const out = (text: string) => {
    process.stdout.write(text + '\n');
    return text;
  };
  const extension = () => {
    const e = positional ?? options.extension;
    if (!e) throw new AdminApiError(`sip ${action} needs an extension (see: studioline sip list)`);
    return encodeURIComponent(e);
  };
  const shown = (data: Record<string, unknown>, verb: string) => {
    if (options.json) return out(JSON.stringify(data));
    const e = data.extension as PublicSipExtension;
    return out(`${verb} extension ${e.extension} on line ${e.line} (realm "${e.realm}"). Its password is shown only this once:\n${data.password as string}`);
  };
  switch (action) {
    case 'create': {
      if (!options.extension || !options.line) throw new AdminApiError('sip create needs --extension NUMBER and --line NUMBER (the line number of the bridge\'s directory)');
      return shown(await call(options, env, 'POST', '/v1/sip/extensions', { extension: options.extension, line: options.line, name: options.name, password: options.password }), 'Created');
    }
    case 'password':
      return shown(await call(options, env, 'POST', `/v1/sip/extensions/${extension()}/password`, options.password ? { password: options.password } : {}), 'New password for');
    case 'list': {
      const data = await call(options, env, 'GET', '/v1/sip/extensions');
      if (options.json) return out(JSON.stringify(data));
      return out(['EXTENSION    LINE         CREATED                   SOURCE   NAME', ...(data.extensions as PublicSipExtension[]).map(row)].join('\n'));
    }
    case 'show':
      return out(JSON.stringify((await call(options, env, 'GET', `/v1/sip/extensions/${extension()}`)).extension, null, 2));
    case 'delete': {
      const e = (await call(options, env, 'DELETE', `/v1/sip/extensions/${extension()}`)).extension as PublicSipExtension;
      return out(options.json ? JSON.stringify(e) : `Deleted extension ${e.extension}: the bridge refuses its phone from its next request.`);
    }
    default:
      throw new AdminApiError(`unknown sip action "${action}" (expected ${SIP_ACTIONS.join(', ')})`);
  }
}

export const sipCommand: Command = {
  name: 'sip',
  summary: 'manage the SIP bridge\'s extensions (desk phones) through the keys admin API: create, list, show, delete, password',
  usage: 'create --extension NUMBER --line NUMBER [--name NAME] [--password PASSWORD] | list | show EXT | delete EXT | password EXT [--password PASSWORD]  [options]',
  description: `Manages the extensions desk phones register with at the SIP bridge, each bound to one line
(the line's number in the bridge's directory): the phone registers as the extension with its
password and dials that line's number. \`create\` and \`password\` show the password once (20
random characters unless --password gives one of 12-128); keys-admin stores only its SIP digest
(HA1) for the realm SIP_REALM, and the bridge reads it from Redis at each REGISTER and INVITE, so
\`delete\` and \`password\` hold from the phone's next request. The API and token are found as for
\`studioline keys\` (--admin-url, STUDIOLINE_ADMIN_URL, ...; --token, STUDIOLINE_ADMIN_TOKEN, ...).`,
  options: {
    'admin-url': { type: 'string', value: 'URL', description: 'the keys admin API' },
    token: { type: 'string', value: 'TOKEN', description: 'the admin bearer token' },
    extension: { type: 'string', value: 'NUMBER', description: 'create: the extension (the SIP user name the phone registers as)' },
    line: { type: 'string', value: 'NUMBER', description: 'create: the line number it dials (a line of the bridge\'s directory)' },
    name: { type: 'string', value: 'NAME', description: 'create: a name for people (e.g. "control room")' },
    password: { type: 'string', value: 'PASSWORD', description: 'create, password: use this password instead of a generated one' },
    json: { type: 'boolean', description: 'print JSON' },
  },
  positionals: { min: 0, max: 2, names: ['ACTION', 'EXT'] },
  examples: [
    ['npx studioline sip create --extension 1001 --line 500 --name "control room"', 'an extension for a desk phone that dials line 500 (the password is shown once)'],
    ['npx studioline sip list', 'every extension with its line'],
    ['npx studioline sip password 1001', 'a new password for 1001; the old one stops at the phone\'s next request'],
  ],
  async run({ values, positionals }, env) {
    const [action = 'list', ext] = positionals;
    if (!(SIP_ACTIONS as readonly string[]).includes(action)) throw new AdminApiError(`unknown sip action "${action}"; valid actions: ${SIP_ACTIONS.join(', ')}`);
    await runSip(action, ext, {
      adminUrl: (values['admin-url'] as string | undefined) ?? defaultAdminUrl(env),
      token: values.token as string | undefined,
      name: values.name as string | undefined,
      extension: values.extension as string | undefined,
      line: values.line as string | undefined,
      password: values.password as string | undefined,
      json: Boolean(values.json),
    }, env);
  },
};
