import { Env, envInt } from '@studioline/server-kit';

export interface RelayConfig {
  /** Renew the relay's registration this often (ms). Default 500. */
  heartbeatMs: number;
  /** A registration lapses this long after its last renewal (ms): how fast a dead relay is noticed. Default 2000. */
  registrationTtlMs: number;
  /** In group lines (more than 2 peers), forward only this many loudest speakers. Default 2. */
  maxSpeakers: number;
}

export const RELAY_DEFAULTS: RelayConfig = { heartbeatMs: 500, registrationTtlMs: 2000, maxSpeakers: 2 };

export function relayConfigFromEnv(env: Env): RelayConfig {
  const heartbeatMs = envInt(env, 'RELAY_HEARTBEAT_MS', RELAY_DEFAULTS.heartbeatMs, { min: 50, max: 10_000 });
  return {
    heartbeatMs,
    registrationTtlMs: envInt(env, 'RELAY_TTL_MS', RELAY_DEFAULTS.registrationTtlMs, { min: heartbeatMs * 2, max: 60_000 }),
    maxSpeakers: envInt(env, 'RELAY_MAX_SPEAKERS', RELAY_DEFAULTS.maxSpeakers, { min: 1, max: 16 }),
  };
}

