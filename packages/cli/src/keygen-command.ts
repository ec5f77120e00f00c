import { generateApiKey } from '@studioline/server-kit';
import { Command } from './command.js';

export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'print a new random API key (to pass as APIKEY)',
  usage: '',
  description: `Prints a new API key: 72 random letters a-zA-Z. Pass it to a server as APIKEY (the server
keeps only its SHA-256 digest) and to \`studioline link\`; for keys you can revoke, use
\`studioline keys create\` against keys-admin instead.`,
  options: {},
  positionals: { min: 0, max: 0, names: [] },
  examples: [['export APIKEY=$(npx studioline keygen)', 'a key for a server and for the links you make']],
  async run() {
    process.stdout.write(generateApiKey() + '\n');
  },
};
