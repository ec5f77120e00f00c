/**
 * The adapters a service runs on: the bus, the key store, the relay directory and the auth failure
 * counter. `createMemoryBackend` serves one process (`npm start`); `createRedisBackend` serves a
 * deployment. Services receive a Backend and never know which one it is.
 */
import { Cluster, Redis, RedisOptions } from 'ioredis';
import { AddressCounts, MemoryAddressCounts, RedisAddressCounts } from './address-counts.js';
import { AuthFailureCounter, MemoryAuthFailureCounter, RedisAuthFailureCounter } from './auth-failures.js';
import { Bus, MemoryBus, RedisBus } from './bus.js';
import { KeySeats, MemoryKeySeats, RedisKeySeats } from './key-seats.js';
import { ERROR_LOG_INTERVAL_MS, RedisEndpoint, reconnectDelayMs } from './redis-stream.js';
import { KeyStore, MemoryKeyStore, RedisKeyStore } from './key-store.js';
import type { Logger } from './logger.js';
import { Counter, Registry, createRedisReconnectsCounter } from './metrics.js';
import { RedisKeys } from './redis-keys.js';
import { MemoryPresenceDirectory, PresenceDirectory, RedisPresenceDirectory } from './presence.js';

export interface Backend {
  readonly bus: Bus;
  readonly keys: KeyStore;
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
  /** Cluster seed addresses (host:port). The key prefix must hold a hash tag, e.g. "{studioline}:". */
  clusterNodes?: string[];
  /** Prefix of every key and channel; default "studioline:". */
  prefix?: string;
  logger: Logger;
  /** Called each time a connection to Redis is lost and retried (besides the metric). */
  onReconnecting?: () => void;
  /** Called when a publish fails after the connection check (for a metric). */
  onPublishError?: (err: Error) => void;
}

export function createRedisBackend(options: RedisBackendOptions): Backend {
  const { logger } = options;
  const base: RedisOptions = {
    retryStrategy: reconnectDelayMs,
    maxRetriesPerRequest: 1,
    connectTimeout: 5000,
  };
  const hostPort = (node: string) => {
    const [host, port] = node.split(':');
    return { host, port: Number(port || 6379) };
  };
  const connect = (extra: RedisOptions): Redis => {
    if (options.clusterNodes?.length) {
      // A Cluster client speaks the same commands; keys share one slot through the prefix's hash tag.
      return new Cluster(options.clusterNodes.map(hostPort), { redisOptions: { ...base, ...extra }, enableOfflineQueue: extra.enableOfflineQueue }) as unknown as Redis;
    }
    if (options.sentinels) return new Redis({ ...base, ...extra, sentinels: options.sentinels.nodes.map(hostPort), name: options.sentinels.masterName });
    return new Redis(options.url, { ...base, ...extra });
  };
  // Commands fail at once while disconnected instead of queueing: audio must never queue, and a
  // join should be refused quickly rather than hang. Audio does not go through ioredis: the bus
  // has its own publisher and subscriber connections (see resp.ts for why), which find the server
  // through this connection (its URL, the master Sentinel named, or a live Cluster node; classic
  // pub/sub reaches every node of a Cluster).
  const commands = connect({ enableOfflineQueue: false, connectionName: 'studioline-commands' });
  const locate = (): RedisEndpoint | undefined => {
    const endpoint = (host: string | undefined, port: number | undefined, o: RedisOptions) =>
      host && port ? { host, port, username: o.username, password: o.password, tls: o.tls } : undefined;
    if (options.clusterNodes?.length) {
      const nodes = (commands as unknown as Cluster).nodes('all').filter((n) => n.status === 'ready');
      const node = nodes[Math.floor(Math.random() * nodes.length)];
      return node && endpoint(node.options.host, node.options.port, node.options);
    }
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
  let lost = false;
  let everReady = false;
  const stateChanged = () => {
    if (!isReady()) {
      if (everReady) lost = true;
      return;
    }
    everReady = true;
    if (!lost) return;
    lost = false;
    logger.info('redis reconnected');
    for (const l of reconnectListeners) l();
  };
  let lastLogged = 0;
  commands.on('error', (err: Error) => {
    if (Date.now() - lastLogged < ERROR_LOG_INTERVAL_MS) return;
    lastLogged = Date.now();
    logger.warn({ connection: 'commands', err: err.message }, 'redis connection error');
  });
  commands.on('reconnecting', reconnecting);
  commands.on('ready', stateChanged);
  commands.on('close', stateChanged);
  const bus = new RedisBus({
    locate,
    logger,
    onPublishError: options.onPublishError ?? (() => undefined),
    onStateChange: stateChanged,
    onRetry: reconnecting,
  });
  const names = new RedisKeys(options.prefix);
  const isReady = () => commands.status === 'ready' && bus.isReady();
  let closing: Promise<void> | undefined;
  return {
    bus,
    keys: new RedisKeyStore(commands, names),
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
