/** The `studioline` command. */
import { parseArgs } from 'node:util';
import { LinkError, formatCallLink, generateLeaf } from '@studioline/protocol';
import { PeerError, WavError } from '@studioline/client';
import { ConfigError } from '@studioline/server-kit';
import { apiKeyForLinks } from './home.js';
import { AdminApiError, runKeys } from './keys-command.js';
import { runPeer } from './peer-command.js';
import { runCertifyCommand } from './certify/command.js';
import { SelftestError, runSelftest } from './selftest-command.js';
import { serve } from './serve-command.js';
import { ROLES, Role } from './studioline.js';

const USAGE = `Usage: studioline <command>

  serve [--port N] [--host H] [--role gateway|relay|keys-admin]
        Run Studioline. Without --role: gateway, relay and keys-admin in one process, in memory
        (or on Redis when REDIS_URL is set). With --role: that one service (needs REDIS_URL).

  link [URL] [--apikey KEY] [--mobile]
        Print a new call link (a fresh leaf key) for the server at URL (default http://127.0.0.1:7777).

  peer LINK [--tone HZ | --wav FILE] [--seconds N] [--record OUT.wav [--mix]] [--json] [--no-wait]
        Join the line of LINK, send a tone (default 440 Hz) or a WAV at real time, and record what
        the other peers send: one WAV per sender, OUT.<sender>.wav; with --mix also OUT.wav, all
        senders mixed and aligned in time. Prints: frames sent, received, lost, replayed, failed
        to decrypt.

  selftest [URL] [--apikey KEY | --admin-url URL] [--seconds N]
        Make a real call between two peers through the server at URL (default http://127.0.0.1:7777)
        and check that each heard the other (what helm test runs). With --admin-url (and
        STUDIOLINE_ADMIN_TOKEN) it makes a temporary key and revokes it afterwards. Exit 0 when it passed.

  certify --url URL --key KEY [--peers N] [--lines-of N] [--duration 60s] [...] | merge FILE...
        Certify a deployment with real peers (real-rate PCM, end-to-end encrypted, checked by
        every receiver); writes a certificate (JSON, HTML, JUnit). \`studioline certify --help\` for all options.

  keys create --name NAME [--expires ISO-TIME] | list | show ID | revoke ID | rotate ID | audit
        Manage API keys through the keys admin API (--admin-url, default http://127.0.0.1:7778;
        --token or STUDIOLINE_ADMIN_TOKEN, else the embedded server's token file).
`;

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve': {
        const { values } = parseArgs({ args: rest, options: { port: { type: 'string' }, host: { type: 'string' }, role: { type: 'string' } } });
        const role = (values.role ?? 'all') as 'all' | Role;
        if (role !== 'all' && !ROLES.includes(role)) throw new ConfigError(`--role must be one of ${ROLES.join(', ')}`);
        const port = values.port === undefined ? undefined : Number(values.port);
        if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536)) throw new ConfigError('--port must be a port number');
        await serve({ role, port, host: values.host }, process.env);
        return;
      }
      case 'link': {
        const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { apikey: { type: 'string' }, mobile: { type: 'boolean' } } });
        const apiKey = values.apikey ?? apiKeyForLinks(process.env);
        if (!apiKey) throw new ConfigError('no API key: pass --apikey, set APIKEY, or start the embedded server once (it makes one)');
        process.stdout.write(formatCallLink(positionals[0] ?? 'http://127.0.0.1:7777', apiKey, generateLeaf(), values.mobile) + '\n');
        return;
      }
      case 'peer': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: {
            tone: { type: 'string' },
            wav: { type: 'string' },
            seconds: { type: 'string' },
            record: { type: 'string' },
            mix: { type: 'boolean', default: false },
            json: { type: 'boolean', default: false },
            'no-wait': { type: 'boolean', default: false },
          },
        });
        if (positionals.length !== 1) throw new ConfigError('peer needs exactly one LINK (make one with `studioline link`)');
        if (values.tone && values.wav) throw new ConfigError('choose --tone or --wav, not both');
        if (values.mix && !values.record) throw new ConfigError('--mix goes with --record OUT.wav (the mix is written to OUT.wav)');
        const number = (name: string, v?: string) => {
          if (v === undefined) return undefined;
          const n = Number(v);
          if (!(n > 0)) throw new ConfigError(`--${name} must be a positive number`);
          return n;
        };
        await runPeer({
          link: positionals[0],
          tone: number('tone', values.tone),
          wav: values.wav,
          seconds: number('seconds', values.seconds),
          record: values.record,
          mix: values.mix as boolean,
          json: values.json as boolean,
          wait: !values['no-wait'],
        });
        return;
      }
      case 'selftest': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: { apikey: { type: 'string' }, 'admin-url': { type: 'string' }, seconds: { type: 'string', default: '3' } },
        });
        const adminUrl = values['admin-url'];
        const adminToken = process.env.STUDIOLINE_ADMIN_TOKEN ?? process.env.ADMIN_TOKEN;
        const apiKey = values.apikey ?? (adminUrl && adminToken ? undefined : apiKeyForLinks(process.env));
        if (!apiKey && !(adminUrl && adminToken)) throw new ConfigError('no API key: pass --apikey, set APIKEY, or pass --admin-url with STUDIOLINE_ADMIN_TOKEN');
        const seconds = Number(values.seconds);
        if (!(seconds > 0 && seconds <= 60)) throw new ConfigError('--seconds must be between 0 and 60');
        process.stdout.write((await runSelftest({ url: positionals[0] ?? 'http://127.0.0.1:7777', apiKey, adminUrl, adminToken, seconds })) + '\n');
        return;
      }
      case 'keys': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: {
            'admin-url': { type: 'string', default: process.env.STUDIOLINE_ADMIN_URL ?? 'http://127.0.0.1:7778' },
            token: { type: 'string' },
            name: { type: 'string' },
            expires: { type: 'string' },
            json: { type: 'boolean', default: false },
          },
        });
        const [action, id] = positionals;
        await runKeys(action ?? 'list', id, { adminUrl: values['admin-url'] as string, token: values.token, name: values.name, expires: values.expires, json: values.json as boolean }, process.env);
        return;
      }
      case 'certify':
        process.exitCode = await runCertifyCommand(rest, process.env);
        return;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return;
      default:
        throw new ConfigError(`unknown command "${command}"\n\n${USAGE}`);
    }
  } catch (err) {
    const known = [ConfigError, LinkError, PeerError, AdminApiError, WavError, SelftestError].some((E) => err instanceof E);
    const e = err as Error & { code?: string };
    process.stderr.write(`studioline ${command ?? ''}: ${known ? e.message : e.stack ?? e.message}\n`);
    // 2: refused by the server or bad input, 1: anything else.
    process.exitCode = known ? 2 : 1;
  }
}
