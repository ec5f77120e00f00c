import { MAX_WIRE_FRAME_BYTES } from '@studioline/protocol';
import { ConfigError, DEFAULT_METRICS_PORT, Env, envInt, envList, envStr } from '@studioline/server-kit';

/** Every gateway setting, with its default and its environment variable. */
export interface GatewayConfig {
  /** Address to listen on (HOST). Default 127.0.0.1. */
  host: string;
  /** Port (PORT); 0 picks a free one. Default 7777. */
  port: number;
  /** Serve /metrics on this port instead of the main one (METRICS_PORT); 0 keeps it on the main port. */
  metricsPort: number;
  /**
   * Page origins allowed to open websockets (ALLOWED_ORIGINS, comma-separated). Empty (default):
   * only pages served by this host (Origin host equals Host). Clients that send no Origin (the Node
   * peer, k6) are always allowed: Origin protects browsers' users, not the server.
   */
  allowedOrigins: string[];
  /** API keys accepted without the key store (APIKEY, comma-separated); kept only as SHA-256 digests. */
  staticKeyHashes: string[];
  /** Per-peer bandwidth budget in bit/s, each direction (BUDGET_BPS). Default 7,000,000. */
  budgetBps: number;
  /** Burst allowed above the budget, in ms of budget (BUDGET_BURST_MS). Default 100. */
  budgetBurstMs: number;
  /** Largest websocket message accepted (MAX_MESSAGE_BYTES); larger closes with 1009. Default 16384. */
  maxMessageBytes: number;
  /** A socket must join within this time (JOIN_TIMEOUT_MS). Default 5000. */
  joinTimeoutMs: number;
  /** Websocket ping interval; a peer that misses one pong is dropped (PING_INTERVAL_MS). Default 5000. */
  pingIntervalMs: number;
  /** Stop sending to a peer whose unsent data exceeds this (SLOW_READER_BYTES): frames are dropped, not queued. Default 262144 (0.65 s at full rate). */
  slowReaderBytes: number;
  /** Peers per line (LINE_CAPACITY): 2 is a 1:1 call, more makes group lines. Default 2. */
  lineCapacity: number;
  /** Failed authentications per client address per window before refusing with 429 (AUTH_FAIL_LIMIT). Default 10. */
  authFailLimit: number;
  /** The window for AUTH_FAIL_LIMIT (AUTH_FAIL_WINDOW_MS). Default 60000. */
  authFailWindowMs: number;
  /** How long a verified key is trusted without asking the store (KEY_CACHE_MS); revocation evicts at once. Default 5000. */
  keyCacheMs: number;
  /** After SIGTERM, wait this long (not ready) before closing calls with 1001 (DRAIN_DELAY_MS). Default 1000. */
  drainDelayMs: number;
  /** Sockets still open this long after SIGTERM are terminated (DRAIN_TIMEOUT_MS). Default 10000. */
  drainTimeoutMs: number;
  /** Re-read the live relays this often (RELAY_POLL_MS), besides reacting to change broadcasts. Default 500. */
  relayPollMs: number;
  /** Gateway registration: renewal interval and expiry (GATEWAY_HEARTBEAT_MS, GATEWAY_TTL_MS). Defaults 1000 and 5000. */
  heartbeatMs: number;
  registrationTtlMs: number;
  /** The public URL of the service (PUBLIC_URL), for printed links. Default http://HOST:PORT. */
  publicUrl?: string;
  /** Directory of the web client to serve at / (WEB_ROOT). */
  webRoot?: string;
}

export const GATEWAY_DEFAULTS: GatewayConfig = {
  host: '127.0.0.1',
  port: 7777,
  metricsPort: DEFAULT_METRICS_PORT,
  allowedOrigins: [],
  staticKeyHashes: [],
  budgetBps: 7_000_000,
  budgetBurstMs: 100,
  maxMessageBytes: MAX_WIRE_FRAME_BYTES,
  joinTimeoutMs: 5000,
  pingIntervalMs: 5000,
  slowReaderBytes: 256 * 1024,
  lineCapacity: 2,
  authFailLimit: 10,
  authFailWindowMs: 60_000,
  keyCacheMs: 5000,
  drainDelayMs: 1000,
  drainTimeoutMs: 10_000,
  relayPollMs: 500,
  heartbeatMs: 1000,
  registrationTtlMs: 5000,
};

/** The lowest budget that carries one full-rate stream with its headers. */
export const MIN_BUDGET_BPS = 3_300_000;

export function gatewayConfigFromEnv(env: Env, hashKey: (secret: string) => string): GatewayConfig {
  const d = GATEWAY_DEFAULTS;
  const budgetBps = envInt(env, 'BUDGET_BPS', d.budgetBps, { min: 100_000, max: 1_000_000_000 });
  const config: GatewayConfig = {
    host: envStr(env, 'HOST', d.host),
    port: envInt(env, 'PORT', d.port, { min: 0, max: 65535 }),
    metricsPort: envInt(env, 'METRICS_PORT', d.metricsPort, { min: 0, max: 65535 }),
    allowedOrigins: envList(env, 'ALLOWED_ORIGINS'),
    staticKeyHashes: envList(env, 'APIKEY').map(hashKey),
    budgetBps,
    budgetBurstMs: envInt(env, 'BUDGET_BURST_MS', d.budgetBurstMs, { min: 10, max: 5000 }),
    maxMessageBytes: envInt(env, 'MAX_MESSAGE_BYTES', d.maxMessageBytes, { min: 1024, max: 1 << 20 }),
    joinTimeoutMs: envInt(env, 'JOIN_TIMEOUT_MS', d.joinTimeoutMs, { min: 100 }),
    pingIntervalMs: envInt(env, 'PING_INTERVAL_MS', d.pingIntervalMs, { min: 100 }),
    slowReaderBytes: envInt(env, 'SLOW_READER_BYTES', d.slowReaderBytes, { min: 16 * 1024 }),
    lineCapacity: envInt(env, 'LINE_CAPACITY', d.lineCapacity, { min: 2, max: 64 }),
    authFailLimit: envInt(env, 'AUTH_FAIL_LIMIT', d.authFailLimit, { min: 1 }),
    authFailWindowMs: envInt(env, 'AUTH_FAIL_WINDOW_MS', d.authFailWindowMs, { min: 1000 }),
    keyCacheMs: envInt(env, 'KEY_CACHE_MS', d.keyCacheMs, { min: 0, max: 60_000 }),
    drainDelayMs: envInt(env, 'DRAIN_DELAY_MS', d.drainDelayMs, { min: 0 }),
    drainTimeoutMs: envInt(env, 'DRAIN_TIMEOUT_MS', d.drainTimeoutMs, { min: 100 }),
    relayPollMs: envInt(env, 'RELAY_POLL_MS', d.relayPollMs, { min: 50 }),
    heartbeatMs: envInt(env, 'GATEWAY_HEARTBEAT_MS', d.heartbeatMs, { min: 50 }),
    registrationTtlMs: envInt(env, 'GATEWAY_TTL_MS', d.registrationTtlMs, { min: 200 }),
    publicUrl: envStr(env, 'PUBLIC_URL'),
    webRoot: envStr(env, 'WEB_ROOT'),
  };
  validateGatewayConfig(config);
  return config;
}

export function validateGatewayConfig(config: GatewayConfig): void {
  if (config.budgetBps < MIN_BUDGET_BPS) {
    throw new ConfigError(`BUDGET_BPS ${config.budgetBps} is below ${MIN_BUDGET_BPS}, the rate of one full-rate (200 kHz) stream`);
  }
  if (config.registrationTtlMs < config.heartbeatMs * 2) throw new ConfigError('GATEWAY_TTL_MS must be at least twice GATEWAY_HEARTBEAT_MS');
}
