/**
 * Typed reading of environment variables. Services read the environment once, in their config
 * module (`readEnv`), and build a typed config object from it (`toConfig`); tests build config
 * objects directly and never touch process.env.
 */
export class ConfigError extends Error {
  readonly code = 'bad_config';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export type Env = Record<string, string | undefined>;

export function envStr(env: Env, name: string, fallback: string): string;
export function envStr(env: Env, name: string): string | undefined;
export function envStr(env: Env, name: string, fallback?: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? fallback : value;
}

export function envInt(env: Env, name: string, fallback: number, { min = -Infinity, max = Infinity } = {}): number {
  const value = envStr(env, name);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new ConfigError(`${name} must be a whole number, got "${value}"`);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

export function envBool(env: Env, name: string, fallback: boolean): boolean {
  const value = envStr(env, name);
  if (value === undefined) return fallback;
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new ConfigError(`${name} must be true or false, got "${value}"`);
}

/** A comma-separated list, blanks dropped. */
export function envList(env: Env, name: string): string[] {
  return (envStr(env, name) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
