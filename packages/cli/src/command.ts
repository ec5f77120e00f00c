/**
 * How a subcommand is described: its options (parsed by node's util.parseArgs), its help with
 * examples, and what it runs. Each subcommand lives in its own file and exports one `Command`;
 * commands.ts lists them, one line each.
 */
import { parseArgs } from 'node:util';
import { CliError } from './exit-codes.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** The value's placeholder in the help, e.g. "N" or "FILE" (string options). */
  value?: string;
  description: string;
  default?: string | boolean;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export interface Command {
  name: string;
  /** One line, for `studioline --help`. */
  summary: string;
  /** The synopsis after `studioline NAME`, e.g. "[URL] [options]". */
  usage: string;
  /** A few sentences for `studioline NAME --help`. */
  description: string;
  options: Record<string, OptionSpec>;
  /** How many positional arguments it takes, and what they are called in messages. */
  positionals: { min: number; max: number; names: string[] };
  /** Command lines with a comment each, shown under "Examples". */
  examples: [string, string][];
  run(args: ParsedArgs, env: NodeJS.ProcessEnv): Promise<void>;
}

const HELP_OPTION: OptionSpec = { type: 'boolean', description: 'show this help' };

function optionList(command: Command): string {
  return [...Object.keys(command.options), 'help'].map((o) => `--${o}`).join(', ');
}

/**
 * Parses the command's arguments; every mistake is a CliError (exit 2) that names the mistake
 * and what is valid. Returns undefined when --help was asked for (the help is then printed).
 */
export function parseCommandArgs(command: Command, argv: string[]): ParsedArgs | undefined {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(
        Object.entries({ ...command.options, help: { ...HELP_OPTION } }).map(([name, o]) => [name, { type: o.type, ...(o.default !== undefined ? { default: o.default } : {}), ...(name === 'help' ? { short: 'h' } : {}) }]),
      ),
    });
  } catch (err) {
    const e = err as Error & { code?: string };
    const option = /'(-[^' ]+)/.exec(e.message)?.[1];
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      throw new CliError(`unknown option ${option ?? ''} for "studioline ${command.name}"; valid options: ${optionList(command)} (see studioline ${command.name} --help)`);
    }
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const spec = option ? command.options[option.replace(/^--?/, '')] : undefined;
      throw new CliError(spec && spec.type === 'boolean' ? `${option} takes no value` : `${option ?? 'an option'} needs a value${spec?.value ? ` (${option} ${spec.value})` : ''}`);
    }
    throw new CliError(e.message);
  }
  if (parsed.values.help) {
    process.stdout.write(commandHelp(command));
    return undefined;
  }
  const { min, max, names } = command.positionals;
  const extra = parsed.positionals.slice(max);
  if (extra.length) throw new CliError(`unexpected argument "${extra[0]}" for "studioline ${command.name}" (usage: studioline ${command.name} ${command.usage})`);
  if (parsed.positionals.length < min) throw new CliError(`"studioline ${command.name}" needs ${names.slice(parsed.positionals.length, min).join(' and ')} (usage: studioline ${command.name} ${command.usage})`);
  return { values: parsed.values as ParsedArgs['values'], positionals: parsed.positionals };
}

export function commandHelp(command: Command): string {
  const options = Object.entries({ ...command.options, help: HELP_OPTION }).map(([name, o]) => {
    const left = `  --${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}${name === 'help' ? ', -h' : ''}`;
    const def = o.default !== undefined && o.default !== false ? ` (default ${o.default})` : '';
    return `${left.padEnd(26)} ${o.description}${def}`;
  });
  const examples = command.examples.map(([line, what]) => `  ${line}\n      ${what}`);
  return [`Usage: studioline ${command.name} ${command.usage}`, '', command.description, '', 'Options:', ...options, '', 'Examples:', ...examples, '', 'Exit codes: studioline --help', ''].join('\n');
}

/** A positive number from a string option, or a CliError naming the option. */
export function positiveNumber(name: string, value: string | boolean | undefined, max = Infinity): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(n > 0 && n <= max)) throw new CliError(`--${name} must be a number above 0${max < Infinity ? ` and at most ${max}` : ''}, got "${String(value)}"`);
  return n;
}
