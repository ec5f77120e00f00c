/**
 * Every `studioline` subcommand, in the order `studioline --help` lists them. A subcommand is one
 * file exporting a `Command` (options, help with examples, run); registering it is one line here.
 */
import { certifyCommand } from './certify/command.js';
import { Command } from './command.js';
import { keygenCommand } from './keygen-command.js';
import { keysCommand } from './keys-command.js';
import { linkCommand } from './link-command.js';
import { peerCommand } from './peer-command.js';
import { selftestCommand } from './selftest-command.js';
import { serveCommand } from './serve-command.js';
import { sipCommand } from './sip-command.js';

export const COMMANDS: readonly Command[] = [
  serveCommand,
  linkCommand,
  peerCommand,
  selftestCommand,
  certifyCommand,
  keysCommand,
  sipCommand,
  keygenCommand,
];
