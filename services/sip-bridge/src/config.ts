import { readFileSync } from 'node:fs';
import { ConfigError, DEFAULT_METRICS_PORT, DEFAULT_SIP_REALM, Env, envInt, envList, envStr, sipRealmProblem } from '@studioline/server-kit';
import { Directory, parseDirectory } from './directory.js';

/** Every sip-bridge setting, with its default and its environment variable. */
export interface SipBridgeConfig {
  /** Address SIP (UDP and TCP) and RTP listen on (SIP_HOST). Default 127.0.0.1. */
  host: string;
  /**
   * SIP port, the same for UDP and TCP (SIP_PORT). Default 5060. 0 picks a port free for both
   * (the SIP library cannot listen on port 0 itself; see sip-stack.ts).
   */
  sipPort: number;
  /**
   * The address phones are told to send RTP and SIP to (SIP_PUBLIC_ADDRESS): SDP `c=` and the
   * Contact. Default SIP_HOST; required when SIP_HOST is a wildcard (0.0.0.0), which no phone can reach.
   */
  publicAddress: string;
  /** RTP ports, one per call, from this range (RTP_PORT_MIN, RTP_PORT_MAX; inclusive). Defaults 20000-20999. */
  rtpPortMin: number;
  rtpPortMax: number;
  /** The digest realm phones authenticate in (SIP_REALM). Default "studioline". */
  realm: string;
  /** The longest registration granted, in s (SIP_MAX_EXPIRES); a phone asking more gets this. Default 3600. */
  maxExpires: number;
  /** Shorter registrations are refused with 423 and Min-Expires (SIP_MIN_EXPIRES). Default 60. */
  minExpires: number;
  /** Calls at once; more are answered 486 Busy Here (SIP_MAX_CALLS). Default 50. */
  maxCalls: number;
  /** A line not joined within this is answered 504 (LINE_JOIN_TIMEOUT_MS): the phone is not left ringing. Default 5000. */
  lineJoinTimeoutMs: number;
  /**
   * Failed authentications (wrong password, unknown account) per source address per window
   * (SIP_AUTH_FAIL_LIMIT, SIP_AUTH_FAIL_WINDOW_MS); past it every REGISTER and INVITE from that
   * address is refused with 403 unchecked until the window ends: password guessing is slowed to a
   * crawl. Defaults 10 per 60000 ms.
   */
  authFailLimit: number;
  authFailWindowMs: number;
  /**
   * Requests outside calls (REGISTER, INVITE, OPTIONS, ...) per source address: SIP_RATE_LIMIT a
   * second on average, SIP_RATE_BURST at once; past it they are answered 503 with Retry-After
   * (request-rate.ts). Requests within a call (ACK, BYE, CANCEL, re-INVITE) are never limited.
   * Defaults 50/s, burst 100 (a PBX or SIP trunk in front of many phones shares one address).
   */
  rateLimit: number;
  rateBurst: number;
  /** Dialable lines (and, without Redis, phone accounts), from the JSON file SIP_DIRECTORY_FILE (directory.ts). Required. */
  directory: Directory;
  /**
   * Where keys-admin keeps the SIP extensions (phone-accounts.ts): REDIS_URL, or REDIS_SENTINELS
   * (REDIS_SENTINEL_MASTER, default mymaster), or REDIS_CLUSTER_NODES; REDIS_PREFIX as every
   * service's. Unset: only the directory file's phones can register.
   */
  redis?: SipRedisConfig;
  /** /healthz, /readyz, /metrics on this port (METRICS_PORT); 0 picks a free one (logged). Default 0. */
  metricsPort: number;
}

export interface SipRedisConfig {
  url: string;
  sentinels?: { nodes: string[]; masterName: string };
  clusterNodes?: string[];
  prefix: string;
}

export const SIP_BRIDGE_DEFAULTS = {
  host: '127.0.0.1',
  sipPort: 5060,
  rtpPortMin: 20_000,
  rtpPortMax: 20_999,
  realm: DEFAULT_SIP_REALM,
  maxExpires: 3600,
  minExpires: 60,
  maxCalls: 50,
  lineJoinTimeoutMs: 5000,
  authFailLimit: 10,
  authFailWindowMs: 60_000,
  rateLimit: 50,
  rateBurst: 100,
  metricsPort: DEFAULT_METRICS_PORT,
} as const;

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

export function sipBridgeConfigFromEnv(env: Env, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): SipBridgeConfig {
  const d = SIP_BRIDGE_DEFAULTS;
  const file = envStr(env, 'SIP_DIRECTORY_FILE');
  if (!file) throw new ConfigError('SIP_DIRECTORY_FILE is required: a JSON file of the lines phones may dial (README, "SIP bridge")');
  let text: string;
  try {
    text = readFile(file);
  } catch (err) {
    throw new ConfigError(`SIP_DIRECTORY_FILE ${file} cannot be read: ${(err as Error).message}`);
  }
  const host = envStr(env, 'SIP_HOST', d.host);
  const redis = redisFromEnv(env);
  const config: SipBridgeConfig = {
    host,
    sipPort: envInt(env, 'SIP_PORT', d.sipPort, { min: 0, max: 65535 }),
    publicAddress: envStr(env, 'SIP_PUBLIC_ADDRESS', host),
    rtpPortMin: envInt(env, 'RTP_PORT_MIN', d.rtpPortMin, { min: 1024, max: 65535 }),
    rtpPortMax: envInt(env, 'RTP_PORT_MAX', d.rtpPortMax, { min: 1024, max: 65535 }),
    realm: envStr(env, 'SIP_REALM', d.realm),
    maxExpires: envInt(env, 'SIP_MAX_EXPIRES', d.maxExpires, { min: 60, max: 86_400 }),
    minExpires: envInt(env, 'SIP_MIN_EXPIRES', d.minExpires, { min: 1, max: 3600 }),
    maxCalls: envInt(env, 'SIP_MAX_CALLS', d.maxCalls, { min: 1, max: 10_000 }),
    lineJoinTimeoutMs: envInt(env, 'LINE_JOIN_TIMEOUT_MS', d.lineJoinTimeoutMs, { min: 100, max: 30_000 }),
    authFailLimit: envInt(env, 'SIP_AUTH_FAIL_LIMIT', d.authFailLimit, { min: 1, max: 10_000 }),
    authFailWindowMs: envInt(env, 'SIP_AUTH_FAIL_WINDOW_MS', d.authFailWindowMs, { min: 1000, max: 3_600_000 }),
    rateLimit: envInt(env, 'SIP_RATE_LIMIT', d.rateLimit, { min: 1, max: 100_000 }),
    rateBurst: envInt(env, 'SIP_RATE_BURST', d.rateBurst, { min: 1, max: 100_000 }),
    directory: parseDirectory(text, `SIP_DIRECTORY_FILE ${file}`, !redis),
    redis,
    metricsPort: envInt(env, 'METRICS_PORT', d.metricsPort, { min: 0, max: 65535 }),
  };
  validateSipBridgeConfig(config);
  return config;
}

/** The same Redis settings as every service's (packages/cli serve-command.ts), for the extensions. */
function redisFromEnv(env: Env): SipRedisConfig | undefined {
  const sentinels = envList(env, 'REDIS_SENTINELS');
  const clusterNodes = envList(env, 'REDIS_CLUSTER_NODES');
  const url = envStr(env, 'REDIS_URL') ?? (sentinels.length || clusterNodes.length ? 'redis://' : undefined);
  if (!url) return undefined;
  return {
    url,
    ...(sentinels.length ? { sentinels: { nodes: sentinels, masterName: envStr(env, 'REDIS_SENTINEL_MASTER', 'mymaster') } } : {}),
    ...(clusterNodes.length ? { clusterNodes } : {}),
    prefix: envStr(env, 'REDIS_PREFIX', clusterNodes.length ? '{studioline}:' : 'studioline:'),
  };
}

export function validateSipBridgeConfig(config: SipBridgeConfig): void {
  if (WILDCARDS.has(config.publicAddress)) throw new ConfigError(`SIP_HOST is ${config.host || 'a wildcard'}: set SIP_PUBLIC_ADDRESS to the address phones reach the bridge at (it goes into SDP and Contact)`);
  if (config.rtpPortMin > config.rtpPortMax) throw new ConfigError(`RTP_PORT_MIN ${config.rtpPortMin} is above RTP_PORT_MAX ${config.rtpPortMax}`);
  const ports = config.rtpPortMax - config.rtpPortMin + 1;
  if (ports < config.maxCalls) throw new ConfigError(`RTP_PORT_MIN..RTP_PORT_MAX holds ${ports} ports, fewer than SIP_MAX_CALLS ${config.maxCalls} (one port per call)`);
  if (config.minExpires > config.maxExpires) throw new ConfigError(`SIP_MIN_EXPIRES ${config.minExpires} is above SIP_MAX_EXPIRES ${config.maxExpires}`);
  const realm = sipRealmProblem(config.realm);
  if (realm) throw new ConfigError(realm);
}
