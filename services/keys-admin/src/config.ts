import { ConfigError, Env, envInt, envStr } from '@studioline/server-kit';

export interface KeysAdminConfig {
  /** Address of the admin API (ADMIN_HOST). Default 127.0.0.1: expose it deliberately. */
  host: string;
  /** Port (ADMIN_PORT); 0 picks a free one. Default 7778. */
  port: number;
  /** Bearer token for every /v1 request (ADMIN_TOKEN). Required. */
  adminToken: string;
}

export const MIN_ADMIN_TOKEN_LENGTH = 16;

export function keysAdminConfigFromEnv(env: Env, fallbackToken?: string): KeysAdminConfig {
  const adminToken = envStr(env, 'ADMIN_TOKEN') ?? fallbackToken;
  if (!adminToken) throw new ConfigError('ADMIN_TOKEN is required: the bearer token of the keys admin API');
  if (adminToken.length < MIN_ADMIN_TOKEN_LENGTH) throw new ConfigError(`ADMIN_TOKEN must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`);
  return {
    host: envStr(env, 'ADMIN_HOST', '127.0.0.1'),
    port: envInt(env, 'ADMIN_PORT', 7778, { min: 0, max: 65535 }),
    adminToken,
  };
}
