import { MAX_LINE_PEERS, MAX_WIRE_FRAME_BYTES } from '@studioline/protocol';
import { ConfigError, DEFAULT_METRICS_PORT, Env, envInt, envList, envStr } from '@studioline/server-kit';
import { OriginPolicy } from './origin-policy.js';
import { TrustedProxies } from './trusted-proxies.js';
import { BUDGET_SLOT_MS } from './window-budget.js';

/** Every gateway setting, with its default and its environment variable. */
export interface GatewayConfig {
  /** Address to listen on (HOST). Default 127.0.0.1. */
  host: string;
  /** Port (PORT); 0 picks a free one. Default 7777. */
  port: number;
  /** Serve /metrics on this port instead of the main one (METRICS_PORT); 0 keeps it on the main port. */
  metricsPort: number;
  /**
   * Page origins allowed to open websockets (ALLOWED_ORIGINS, comma-separated), besides the
   * service's own: PUBLIC_URL's origin when set; else, through a trusted proxy, the origin it
   * forwards; else the address the gateway listens on (see origin-policy.ts). Never the Host a
   * client sends. Clients that send no Origin (the Node peer) are always allowed: Origin protects
   * browsers' users, not the server. Default: none.
   */
  allowedOrigins: string[];
  /**
   * Proxies whose X-Forwarded-For is believed (TRUSTED_PROXIES, comma-separated IPv4/IPv6 CIDRs or
   * addresses). The client's address is then the right-most address of the header that is not a
   * trusted proxy. Default: none (the socket's peer is the client).
   */
  trustedProxies: string[];
  /** API keys accepted without the key store (APIKEY, comma-separated); kept only as SHA-256 digests. */
  staticKeyHashes: string[];
  /** Per-peer bandwidth budget in bit/s, each direction (BUDGET_BPS). Default 7,000,000. */
  budgetBps: number;
  /**
   * The budget holds over any window of this length (BUDGET_WINDOW_MS, a multiple of 10): a sender
   * may catch up after a stall shorter than the window without losing a frame. Default 1000.
   */
  budgetWindowMs: number;
  /** Largest websocket message accepted (MAX_MESSAGE_BYTES); larger closes with 1009. Default 16384. */
  maxMessageBytes: number;
  /** A socket must join within this time (JOIN_TIMEOUT_MS). Default 5000. */
  joinTimeoutMs: number;
  /** Websocket ping interval; a peer that misses one pong is dropped (PING_INTERVAL_MS). Default 5000. */
  pingIntervalMs: number;
  /** Stop sending to a peer whose unsent data exceeds this (SLOW_READER_BYTES): frames are dropped, not queued. Default 262144 (0.65 s at full rate). */
  slowReaderBytes: number;
  /**
   * A receiver whose link queues its audio steps down a layer (layer-step.ts), and back up after
   * this long without trouble (LAYER_STEP_CALM_MS). Default 5000.
   */
  layerStepCalmMs: number;
  /**
   * Peers per line when the host's link does not say (LINE_CAPACITY): 2 is a 1:1 call, more makes
   * group lines. A link's `peers=N` sets a line's size when it opens. Default 2.
   */
  lineCapacity: number;
  /**
   * The most peers a link may ask a line to hold (MAX_LINE_CAPACITY, up to 64; never below
   * LINE_CAPACITY); an API key's max peers bounds it too. Default 16.
   */
  maxLineCapacity: number;
  /** Failed authentications per client address per window before refusing with 429 (AUTH_FAIL_LIMIT). Default 10. */
  authFailLimit: number;
  /** The window for AUTH_FAIL_LIMIT (AUTH_FAIL_WINDOW_MS). Default 60000. */
  authFailWindowMs: number;
  /**
   * Open websockets per client address on one gateway (SOCKETS_PER_ADDRESS); more are refused with
   * 429. Behind a proxy this needs TRUSTED_PROXIES, or every caller shares the proxy's address. Default 200.
   */
  socketsPerAddress: number;
  /** Websockets per client address not yet authenticated, on one gateway (UNAUTHENTICATED_PER_ADDRESS). Default 10. */
  unauthenticatedPerAddress: number;
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
  /** The public URL of the service (PUBLIC_URL), for printed links and the Origin check. Default http://HOST:PORT. */
  publicUrl?: string;
  /** Directory of the web client to serve at / (WEB_ROOT). */
  webRoot?: string;
}

export const GATEWAY_DEFAULTS: GatewayConfig = {
  host: '127.0.0.1',
  port: 7777,
  metricsPort: DEFAULT_METRICS_PORT,
  allowedOrigins: [],
  trustedProxies: [],
  staticKeyHashes: [],
  budgetBps: 7_000_000,
  budgetWindowMs: 1000,
  maxMessageBytes: MAX_WIRE_FRAME_BYTES,
  joinTimeoutMs: 5000,
  pingIntervalMs: 5000,
  slowReaderBytes: 256 * 1024,
  layerStepCalmMs: 5000,
  lineCapacity: 2,
  maxLineCapacity: 16,
  authFailLimit: 10,
  authFailWindowMs: 60_000,
  socketsPerAddress: 200,
  unauthenticatedPerAddress: 10,
  keyCacheMs: 5000,
  drainDelayMs: 1000,
  drainTimeoutMs: 10_000,
  relayPollMs: 500,
  heartbeatMs: 1000,
  registrationTtlMs: 5000,
};

/** Settings that changed meaning: refused with what to set instead, rather than silently ignored. */
const REPLACED_SETTINGS: Record<string, string> = {
  TRUST_PROXY: 'set TRUSTED_PROXIES to the CIDRs of the proxies in front (e.g. 10.0.0.0/8); X-Forwarded-For is believed only from them',
  BUDGET_BURST_MS: 'the budget is now a sliding window: set BUDGET_WINDOW_MS (default 1000)',
};

/** The lowest budget that carries one full-rate stream with its headers. */
export const MIN_BUDGET_BPS = 3_300_000;

export function gatewayConfigFromEnv(env: Env, hashKey: (secret: string) => string): GatewayConfig {
  const d = GATEWAY_DEFAULTS;
  for (const [old, now] of Object.entries(REPLACED_SETTINGS)) {
    if (env[old] !== undefined) throw new ConfigError(`${old} is no longer read: ${now}`);
  }
  const budgetBps = envInt(env, 'BUDGET_BPS', d.budgetBps, { min: 100_000, max: 1_000_000_000 });
  const lineCapacity = envInt(env, 'LINE_CAPACITY', d.lineCapacity, { min: 2, max: MAX_LINE_PEERS });
  const config: GatewayConfig = {
    host: envStr(env, 'HOST', d.host),
    port: envInt(env, 'PORT', d.port, { min: 0, max: 65535 }),
    metricsPort: envInt(env, 'METRICS_PORT', d.metricsPort, { min: 0, max: 65535 }),
    allowedOrigins: envList(env, 'ALLOWED_ORIGINS'),
    trustedProxies: envList(env, 'TRUSTED_PROXIES'),
    staticKeyHashes: envList(env, 'APIKEY').map(hashKey),
    budgetBps,
    budgetWindowMs: envInt(env, 'BUDGET_WINDOW_MS', d.budgetWindowMs, { min: 100, max: 10_000 }),
    maxMessageBytes: envInt(env, 'MAX_MESSAGE_BYTES', d.maxMessageBytes, { min: 1024, max: 1 << 20 }),
    joinTimeoutMs: envInt(env, 'JOIN_TIMEOUT_MS', d.joinTimeoutMs, { min: 100 }),
    pingIntervalMs: envInt(env, 'PING_INTERVAL_MS', d.pingIntervalMs, { min: 100 }),
    slowReaderBytes: envInt(env, 'SLOW_READER_BYTES', d.slowReaderBytes, { min: 16 * 1024 }),
    layerStepCalmMs: envInt(env, 'LAYER_STEP_CALM_MS', d.layerStepCalmMs, { min: 1000, max: 600_000 }),
    lineCapacity,
    // Unset, it is never below LINE_CAPACITY (a deployment that set only LINE_CAPACITY keeps working).
    maxLineCapacity: envInt(env, 'MAX_LINE_CAPACITY', Math.max(d.maxLineCapacity, lineCapacity), { min: 2, max: MAX_LINE_PEERS }),
    authFailLimit: envInt(env, 'AUTH_FAIL_LIMIT', d.authFailLimit, { min: 1 }),
    authFailWindowMs: envInt(env, 'AUTH_FAIL_WINDOW_MS', d.authFailWindowMs, { min: 1000 }),
    socketsPerAddress: envInt(env, 'SOCKETS_PER_ADDRESS', d.socketsPerAddress, { min: 1 }),
    unauthenticatedPerAddress: envInt(env, 'UNAUTHENTICATED_PER_ADDRESS', d.unauthenticatedPerAddress, { min: 1 }),
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
  if (config.budgetWindowMs % BUDGET_SLOT_MS !== 0) throw new ConfigError(`BUDGET_WINDOW_MS must be a multiple of ${BUDGET_SLOT_MS}, got ${config.budgetWindowMs}`);
  TrustedProxies.parse(config.trustedProxies);
  new OriginPolicy(config.allowedOrigins, config.publicUrl, config.host);
  if (config.lineCapacity > config.maxLineCapacity) throw new ConfigError(`LINE_CAPACITY ${config.lineCapacity} is above MAX_LINE_CAPACITY ${config.maxLineCapacity}: raise MAX_LINE_CAPACITY or lower LINE_CAPACITY`);
  if (config.registrationTtlMs < config.heartbeatMs * 2) throw new ConfigError('GATEWAY_TTL_MS must be at least twice GATEWAY_HEARTBEAT_MS');
}
