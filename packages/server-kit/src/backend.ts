/**
 * The adapters a service runs on: the bus, the key store, the relay directory and the auth failure
 * counter. `createMemoryBackend` serves one process (`npm start`); `createRedisBackend` serves a
 * deployment. Services receive a Backend and never know which one it is.
 */
import { Cluster, Redis, RedisOptions } from 'ioredis';
import { AddressCounts, MemoryAddressCounts, RedisAddressCounts } from './address-counts.js';
import { AuthFailureCounter, MemoryAuthFailureCounter, RedisAuthFailureCounter } from './auth-failures.js';
import { Bus, MemoryBus, RedisBus } from './bus.js';
import { ClusterBus, SlotTable } from './cluster-bus.js';
import { ConfigError } from './env.js';
import { KeySeats, MemoryKeySeats, RedisKeySeats } from './key-seats.js';
import { CONNECT_TIMEOUT_MS, ERROR_LOG_INTERVAL_MS, RedisEndpoint, reconnectDelayMs } from './redis-stream.js';
import { KeyStore, MemoryKeyStore, RedisKeyStore, WriteDurability } from './key-store.js';
import type { Logger } from './logger.js';
import { Counter, Registry, createRedisReconnectsCounter } from './metrics.js';
import { RedisKeys, hashTag } from './redis-keys.js';
import { MemorySipAccountStore, RedisSipAccountStore, SipAccountStore } from './sip-accounts.js';
import { MemoryPresenceDirectory, PresenceDirectory, RedisPresenceDirectory } from './presence.js';

export interface Backend {
  readonly bus: Bus;
  readonly keys: KeyStore;
  /** SIP extensions (the SIP bridge's phone accounts; keys-admin writes them). */
  readonly sipAccounts: SipAccountStore;
  /** Live relays (heartbeats). */
  readonly relays: PresenceDirectory;
  /** Live gateways (heartbeats). */
  readonly gateways: PresenceDirectory;
  readonly authFailures: AuthFailureCounter;
  /**
   * One gateway's share of the per-address counts (sockets, unauthenticated sockets, key checks in
   * flight), decided across every gateway of the backend; `leaseMs` as the gateway's registration.
   */
  addressCounts(gateway: string, leaseMs: number): AddressCounts;
  /** One gateway's share of the API keys' seats (peers, lines), decided across every gateway; `leaseMs` as above. */
  keySeats(gateway: string, leaseMs: number): KeySeats;
  /** Channel names (and Redis keys), with the deployment's prefix. */
  readonly names: RedisKeys;
  /** True while the backing store answers (always true in memory). */
  isReady(): boolean;
  /** Resolves true once the store answers, false after `timeoutMs` (the caller goes on, not ready). */
  waitReady(timeoutMs: number): Promise<boolean>;
  /** Listens for the store coming back after an outage (called once every connection is up again). */
  onReconnect(listener: () => void): void;
  /** Registers the backend's own metrics (studioline_redis_reconnects_total) in the process registry. */
  registerMetrics(registry: Registry): void;
  close(): Promise<void>;
}

export function createMemoryBackend(): Backend {
  const authFailures = new MemoryAuthFailureCounter();
  // Shared by every gateway of the process (there is no other process to share with).
  const addressCounts = new Map<string, number>();
  const keySeats = new Map<string, Map<string, number>>();
  return {
    bus: new MemoryBus(),
    keys: new MemoryKeyStore(),
    sipAccounts: new MemorySipAccountStore(),
    relays: new MemoryPresenceDirectory(),
    gateways: new MemoryPresenceDirectory(),
    authFailures,
    addressCounts: () => new MemoryAddressCounts(addressCounts, authFailures),
    keySeats: () => new MemoryKeySeats(keySeats),
    names: new RedisKeys('memory:'),
    isReady: () => true,
    waitReady: async () => true,
    onReconnect: () => undefined,
    registerMetrics: (registry) => void createRedisReconnectsCounter(registry),
    close: async () => undefined,
  };
}

export interface RedisBackendOptions {
  /** redis:// or rediss:// URL (for Sentinel and Cluster: credentials and TLS only). */
  url: string;
  /** Sentinel addresses (host:port) and master name: connect to the master they name. */
  sentinels?: { nodes: string[]; masterName: string };
  /**
   * Cluster seed addresses (host:port). The key prefix must hold a hash tag, e.g. "{studioline}:",
   * so that the key data (and its scripts and transactions) stays on one slot; audio goes over
   * sharded pub/sub (cluster-bus.ts).
   */
  clusterNodes?: string[];
  /** Prefix of every key and channel; default "studioline:". */
  prefix?: string;
  /**
   * Writes of key data (API keys, revocations, the audit log) wait for this many replicas to
   * acknowledge them (WAIT), so that a failover right after a write does not lose it; a write not
   * acknowledged in time fails (keys-admin answers 503). Default 0 (no waiting).
   */
  writeReplicas?: number;
  /** How long a write waits for its replicas, in ms; default 1000. */
  writeWaitMs?: number;
  logger: Logger;
  /** Called each time a connection to Redis is lost and retried (besides the metric). */
  onReconnecting?: () => void;
  /** Called when a publish fails after the connection check (for a metric). */
  onPublishError?: (err: Error) => void;
}

export function createRedisBackend(options: RedisBackendOptions): Backend {
  const { logger } = options;
  const cluster = Boolean(options.clusterNodes?.length);
  const names = new RedisKeys(options.prefix);
  if (cluster && !hashTag(names.prefix)) {
    throw new ConfigError(`on a Redis Cluster the key prefix needs a hash tag, e.g. "{studioline}:", so that related keys share a slot; got "${names.prefix}" (REDIS_PREFIX)`);
  }
  const base: RedisOptions = {
    retryStrategy: reconnectDelayMs,
    maxRetriesPerRequest: 1,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // The URL's credentials and TLS also apply to every Sentinel-named or Cluster node.
    ...(options.sentinels || cluster ? credentials(options.url) : {}),
  };
  // Commands fail at once while disconnected instead of queueing: audio must never queue, and a
  // join should be refused quickly rather than hang. Audio does not go through ioredis: the bus
  // has its own publisher and subscriber connections (see resp.ts for why), which find the server
  // through this connection (its URL, or the master Sentinel named), or, on a Cluster, through
  // its slot table (cluster-bus.ts).
  const extra: RedisOptions = { enableOfflineQueue: false, connectionName: 'studioline-commands' };
  const commands: Redis = cluster
    ? (new Cluster(options.clusterNodes!.map(hostPort), { redisOptions: { ...base, ...extra }, enableOfflineQueue: false }) as unknown as Redis)
    : options.sentinels
      ? new Redis({ ...base, ...extra, sentinels: options.sentinels.nodes.map(hostPort), name: options.sentinels.masterName })
      : new Redis(options.url, { ...base, ...extra });
  const endpoint = (host: string | undefined, port: number | undefined, o: RedisOptions): RedisEndpoint | undefined =>
    host && port ? { host, port, username: o.username, password: o.password, tls: o.tls } : undefined;
  const locate = (): RedisEndpoint | undefined => {
    if (options.sentinels) return commands.status === 'ready' ? endpoint(commands.stream?.remoteAddress, commands.stream?.remotePort, commands.options) : undefined;
    return endpoint(commands.options.host, commands.options.port, commands.options);
  };

  const reconnectCounters: Counter[] = [];
  const reconnecting = () => {
    for (const c of reconnectCounters) c.inc();
    options.onReconnecting?.();
  };
  const reconnectListeners: (() => void)[] = [];
  // Set when any connection drops after having been up; the listeners run once all are back, so
  // that replies to what they send (e.g. re-announced joins) find the subscriptions in place.
  // (A connection that is merely new, e.g. to a Cluster primary first published to, is no loss.)
  let lost = false;
  let everReady = false;
  const stateChanged = () => {
    if (!isReady()) return;
    everReady = true;
    if (!lost) return;
    lost = false;
    logger.info('redis reconnected');
    for (const l of reconnectListeners) l();
  };
  const dropped = () => {
    if (everReady) lost = true;
    stateChanged();
  };
  let lastLogged = 0;
  commands.on('error', (err: Error) => {
    if (Date.now() - lastLogged < ERROR_LOG_INTERVAL_MS) return;
    lastLogged = Date.now();
    logger.warn({ connection: 'commands', err: err.message }, 'redis connection error');
  });
  commands.on('reconnecting', reconnecting);
  commands.on('ready', () => {
    // The audio bus follows the command connection to the primary (locate): at once, not at its next retry.
    if (bus instanceof RedisBus) bus.retryNow();
    stateChanged();
  });
  commands.on('close', dropped);
  const busOptions = {
    logger,
    onPublishError: options.onPublishError ?? (() => undefined),
    onStateChange: stateChanged,
    onDown: dropped,
    onRetry: reconnecting,
  };
  const bus: RedisBus | ClusterBus = cluster
    ? new ClusterBus({ ...busOptions, slots: slotTable(commands as unknown as Cluster, base), pinned: [names.revocations()] })
    : new RedisBus({ ...busOptions, locate });
  const isReady = () => commands.status === 'ready' && bus.isReady();
  const durability: WriteDurability = { replicas: options.writeReplicas ?? 0, waitMs: options.writeWaitMs ?? 1000 };
  let closing: Promise<void> | undefined;
  return {
    bus,
    keys: new RedisKeyStore(commands, names, durability),
    sipAccounts: new RedisSipAccountStore(commands, names),
    relays: new RedisPresenceDirectory(commands, names.presence('relays')),
    gateways: new RedisPresenceDirectory(commands, names.presence('gateways')),
    authFailures: new RedisAuthFailureCounter(commands, names),
    addressCounts: (gateway, leaseMs) => new RedisAddressCounts(commands, names, gateway, leaseMs),
    keySeats: (gateway, leaseMs) => new RedisKeySeats(commands, names, gateway, leaseMs),
    names,
    isReady,
    async waitReady(timeoutMs) {
      const until = Date.now() + timeoutMs;
      while (!isReady() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      return isReady();
    },
    onReconnect: (listener) => void reconnectListeners.push(listener),
    registerMetrics: (registry) => void reconnectCounters.push(createRedisReconnectsCounter(registry)),
    close() {
      closing ??= (async () => {
        bus.close();
        try {
          await commands.quit();
        } catch {
          commands.disconnect();
        }
      })();
      return closing;
    },
  };
}

function hostPort(node: string): { host: string; port: number } {
  // The port follows the last colon (an IPv6 address holds colons of its own).
  const colon = node.lastIndexOf(':');
  return colon < 0 ? { host: node, port: 6379 } : { host: node.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(node.slice(colon + 1)) };
}

/** The user, password and TLS of a redis:// or rediss:// URL. */
function credentials(url: string): RedisOptions {
  const u = new URL(url);
  return {
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    tls: u.protocol === 'rediss:' ? {} : undefined,
  };
}

/** The Cluster client's slot table, as the sharded bus reads it. */
function slotTable(cluster: Cluster, options: RedisOptions): SlotTable {
  return {
    primary: (slot) => cluster.slots[slot]?.[0],
    primaries: () => [...new Set(cluster.slots.map((nodes) => nodes?.[0]).filter((node): node is string => Boolean(node)))],
    endpoint: (node) => ({ ...hostPort(node), username: options.username, password: options.password, tls: options.tls }),
    refresh: () => cluster.refreshSlotsCache(),
    onRefresh: (listener) => void cluster.on('refresh', listener),
  };
}
