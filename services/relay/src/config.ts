import { Env, envInt } from '@studioline/server-kit';

export interface RelayConfig {
  /** Renew the relay's registration this often (ms). Default 500. */
  heartbeatMs: number;
  /** A registration lapses this long after its last renewal (ms): how fast a dead relay is noticed. Default 2000. */
  registrationTtlMs: number;
  /**
   * Speakers each listener of a group line hears on the full-rate layer (RELAY_MAX_SPEAKERS): two
   * full-rate streams fit the 7 Mbit/s budget. Selection in speaker-selection.ts. Default 2.
   */
  maxSpeakers: number;
  /** The same for the compact (Opus) layer (RELAY_MAX_COMPACT_SPEAKERS). Default 4. */
  maxCompactSpeakers: number;
  /**
   * Forget the peers of gateways whose registration lapsed, but only once the store has been up
   * this long (RELAY_GATEWAY_GRACE_MS): after a store restart, registrations return with the next
   * heartbeats, not at once. At least the gateways' GATEWAY_TTL_MS. Default 5000.
   */
  gatewayGraceMs: number;
}

export const RELAY_DEFAULTS: RelayConfig = { heartbeatMs: 500, registrationTtlMs: 2000, maxSpeakers: 2, maxCompactSpeakers: 4, gatewayGraceMs: 5000 };

export function relayConfigFromEnv(env: Env): RelayConfig {
  const heartbeatMs = envInt(env, 'RELAY_HEARTBEAT_MS', RELAY_DEFAULTS.heartbeatMs, { min: 50, max: 10_000 });
  return {
    heartbeatMs,
    registrationTtlMs: envInt(env, 'RELAY_TTL_MS', RELAY_DEFAULTS.registrationTtlMs, { min: heartbeatMs * 2, max: 60_000 }),
    maxSpeakers: envInt(env, 'RELAY_MAX_SPEAKERS', RELAY_DEFAULTS.maxSpeakers, { min: 1, max: 16 }),
    maxCompactSpeakers: envInt(env, 'RELAY_MAX_COMPACT_SPEAKERS', RELAY_DEFAULTS.maxCompactSpeakers, { min: 1, max: 16 }),
    gatewayGraceMs: envInt(env, 'RELAY_GATEWAY_GRACE_MS', RELAY_DEFAULTS.gatewayGraceMs, { min: 0, max: 300_000 }),
  };
}

