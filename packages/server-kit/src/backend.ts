/**
 * The adapters a service runs on: the bus, the key store, the relay directory and the auth failure
 * counter. `createMemoryBackend` serves one process (`npm start`); `createRedisBackend` serves a
 * deployment. Services receive a Backend and never know which one it is.
 */
import { Cluster, Redis, RedisOptions } from 'ioredis';
import { AuthFailureCounter, MemoryAuthFailureCounter, RedisAuthFailureCounter } from './auth-failures.js';
import { Bus, MemoryBus, RedisBus } from './bus.js';
import { KeyStore, MemoryKeyStore, RedisKeyStore } from './key-store.js';
import type { Logger } from './logger.js';
import { RedisKeys } from './redis-keys.js';
import { MemoryPresenceDirectory, PresenceDirectory, RedisPresenceDirectory } from './presence.js';

export interface Backend {
  readonly kind: 'memory' | 'redis';
  readonly bus: Bus;
  readonly keys: KeyStore;
  /** Live relays (heartbeats). */
  readonly relays: PresenceDirectory;
  /** Live gateways (heartbeats). */
  readonly gateways: PresenceDirectory;
  readonly authFailures: AuthFailureCounter;
  /** Channel names (and Redis keys), with the deployment's prefix. */
  readonly names: RedisKeys;
  /** True while the backing store answers (always true in memory). */
  isReady(): boolean;
  /** Resolves true once the store answers, false after `timeoutMs` (the caller goes on, not ready). */
  waitReady(timeoutMs: number): Promise<boolean>;
  /** Listens for the store coming back after an outage (called once both connections are up). */
  onReconnect(listener: () => void): void;
  close(): Promise<void>;
}

export function createMemoryBackend(): Backend {
  return {
    kind: 'memory',
    bus: new MemoryBus(),
    keys: new MemoryKeyStore(),
    relays: new MemoryPresenceDirectory(),
    gateways: new MemoryPresenceDirectory(),
    authFailures: new MemoryAuthFailureCounter(),
    names: new RedisKeys('memory:'),
    isReady: () => true,
    waitReady: async () => true,
    onReconnect: () => undefined,
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
  /** Called on each reconnection of either connection (for a metric). */
  onReconnecting?: () => void;
  /** Called when a publish fails after the connection check (for a metric). */
  onPublishError?: (err: Error) => void;
}

/** Connection errors are logged at most this often per connection, so an outage does not flood logs. */
const ERROR_LOG_INTERVAL_MS = 5000;

export function createRedisBackend(options: RedisBackendOptions): Backend {
  const { logger } = options;
  const base: RedisOptions = {
    // Reconnect forever, backing off to 1 s: services ride out a Redis restart by themselves.
    retryStrategy: (times) => Math.min(50 * times, 1000),
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
  // join should be refused quickly rather than hang.
  // Auto-pipelining sends every command issued in one event-loop turn in one write: a burst of
  // frames becomes one syscall and one Redis read instead of one each, at no added latency.
  const commands = connect({ enableOfflineQueue: false, enableAutoPipelining: true, connectionName: 'studioline-commands' });
  // The subscriber queues its (few) SUBSCRIBE commands until connected, and resubscribes by itself.
  const subscriber = connect({ enableOfflineQueue: true, connectionName: 'studioline-subscriber' });
  const reconnectListeners: (() => void)[] = [];
  for (const [name, conn] of [['commands', commands], ['subscriber', subscriber]] as const) {
    let lastLogged = 0;
    let wasReady = false;
    conn.on('error', (err: Error) => {
      if (Date.now() - lastLogged < ERROR_LOG_INTERVAL_MS) return;
      lastLogged = Date.now();
      logger.warn({ connection: name, err: err.message }, 'redis connection error');
    });
    conn.on('reconnecting', () => options.onReconnecting?.());
    conn.on('ready', () => {
      if (wasReady) {
        logger.info({ connection: name }, 'redis reconnected');
        // Listeners run once both connections are back, so that replies to what they send
        // (e.g. re-announced joins) find the subscriptions in place.
        if (isReady()) for (const l of reconnectListeners) l();
      }
      wasReady = true;
    });
  }
  const names = new RedisKeys(options.prefix);
  const isReady = () => commands.status === 'ready' && subscriber.status === 'ready';
  let closing: Promise<void> | undefined;
  return {
    kind: 'redis',
    bus: new RedisBus(commands, subscriber, { onPublishError: options.onPublishError ?? (() => undefined) }),
    keys: new RedisKeyStore(commands, names),
    relays: new RedisPresenceDirectory(commands, names.presence('relays')),
    gateways: new RedisPresenceDirectory(commands, names.presence('gateways')),
    authFailures: new RedisAuthFailureCounter(commands, names),
    names,
    isReady,
    async waitReady(timeoutMs) {
      const until = Date.now() + timeoutMs;
      while (!isReady() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      return isReady();
    },
    onReconnect: (listener) => void reconnectListeners.push(listener),
    close() {
      closing ??= (async () => {
        for (const conn of [subscriber, commands]) {
          try {
            await conn.quit();
          } catch {
            conn.disconnect();
          }
        }
      })();
      return closing;
    },
  };
}
