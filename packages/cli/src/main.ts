/** The `studioline` command: finds the subcommand, parses its options, maps errors to exit codes. */
import { Command, parseCommandArgs } from './command.js';
import { COMMANDS } from './commands.js';
import { EXIT, exitCodeFor } from './exit-codes.js';

export const EXIT_CODES_HELP = `Exit codes:
  0  done
  1  an unexpected error (a bug: the stack trace is printed; please report it)
  2  the command line or the configuration is wrong (unknown option, bad value, port in use)
  3  the server refused (wrong API key or admin token, line full, unknown key id)
  4  the server could not be reached (connection refused, unknown host)
  5  the command ran but its check failed (selftest, no other peer joined in time)
`;

export function usage(commands: readonly Command[] = COMMANDS): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    'Usage: studioline <command> [options]     (in a checkout: npx studioline ...)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)} ${c.summary}`),
    '',
    'Run `studioline <command> --help` for its options and examples.',
    '',
    EXIT_CODES_HELP,
  ].join('\n');
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env, commands: readonly Command[] = COMMANDS): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? commands.find((c) => c.name === rest[0]) : undefined;
    if (topic) parseCommandArgs(topic, ['--help']);
    else process.stdout.write(usage(commands));
    return;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`studioline: unknown command "${name}"; commands: ${commands.map((c) => c.name).join(', ')} (see studioline --help)\n`);
    process.exitCode = EXIT.usage;
    return;
  }
  try {
    const args = parseCommandArgs(command, rest);
    if (args) await command.run(args, env);
  } catch (err) {
    const code = exitCodeFor(err);
    const e = err as Error;
    process.stderr.write(`studioline ${name}: ${code === undefined ? (e.stack ?? e.message) : e.message}\n`);
    // Never process.exit(): the process ends once what is running (nothing, after an error) is done.
    process.exitCode = code ?? EXIT.internal;
  }
}
