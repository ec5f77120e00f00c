import { chmodSync, writeFileSync } from 'node:fs';
import { MAX_LINE_PEERS, formatCallLink, generateLeaf, isLineCapacity } from '@studioline/protocol';
import { apiKeyProblem } from '@studioline/server-kit';
import { Command } from './command.js';
import { CliError } from './exit-codes.js';
import { apiKeyForLinks, defaultGatewayUrl } from './home.js';

export const linkCommand: Command = {
  name: 'link',
  summary: 'print a new call link (a fresh leaf key) for a server',
  usage: '[URL] [options]',
  description: `Prints a new call link: the server's URL, the API key and a fresh 32-byte leaf key (the
end-to-end key) in the fragment. Anyone with the link can join the call: share it privately.
URL defaults to PUBLIC_URL, else http://HOST:PORT when set, else the server started by
\`npm start\` on this machine, else http://127.0.0.1:7777. The API key is --apikey, else APIKEY,
else the one the local server made (~/.studioline/apikey).`,
  options: {
    apikey: { type: 'string', value: 'KEY', description: 'the API key to put in the link' },
    mobile: { type: 'boolean', description: 'a mobile link: only the compact layer (Opus, 48 kHz, about 73 kbit/s per speaker) instead of 200 kHz PCM' },
    peers: { type: 'string', value: 'N', description: 'a group line for up to N peers (2 to 64; the server and the API key may allow fewer); default: the server\'s LINE_CAPACITY' },
    out: { type: 'string', value: 'FILE', description: 'write the link to FILE (readable only by you) instead of printing it' },
  },
  positionals: { min: 0, max: 1, names: ['URL'] },
  examples: [
    ['npx studioline link', 'a link for the server that `npm start` runs on this machine'],
    ['npx studioline link --out call.link', 'the same, kept in a file both terminals can read'],
    ['npx studioline link https://calls.example.com --apikey "$KEY"', 'a link for a deployment'],
    ['npx studioline link --peers 8', 'a group line for up to 8 peers'],
  ],
  async run({ values, positionals }, env) {
    const apiKey = (values.apikey as string | undefined) ?? apiKeyForLinks(env);
    if (!apiKey) throw new CliError('no API key: pass --apikey, set APIKEY, or start the embedded server once (`npm start` makes one)');
    const problem = apiKeyProblem(apiKey);
    if (problem) throw new CliError(`${values.apikey ? '--apikey' : 'the API key'} is not an API key: ${problem}`);
    const url = positionals[0] ?? defaultGatewayUrl(env);
    if (!/^https?:\/\/[^/]/.test(url)) throw new CliError(`URL must start with http:// or https://, got "${url}"`);
    let peers: number | undefined;
    if (values.peers !== undefined) {
      peers = /^\d{1,3}$/.test(values.peers as string) ? Number(values.peers) : NaN;
      if (!isLineCapacity(peers)) throw new CliError(`--peers must be a whole number from 2 to ${MAX_LINE_PEERS}, got "${values.peers as string}"`);
    }
    const link = formatCallLink(url, apiKey, generateLeaf(), values.mobile as boolean | undefined, peers);
    if (values.out) {
      writeFileSync(values.out as string, link + '\n', { mode: 0o600 });
      chmodSync(values.out as string, 0o600);
      process.stderr.write(`studioline link: wrote a new call link for ${url} to ${values.out as string}\n`);
    } else {
      process.stdout.write(link + '\n');
    }
  },
};
