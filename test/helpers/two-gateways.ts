/**
 * Two gateways, a relay and the key service in the test's own process, on the in-memory backend
 * (all of them sharing it, as the embedded default's services do) or on a real Redis (each service
 * with its own connections, as separate pods have). For behaviour that spans gateways and must hold
 * on both backends.
 */
import { PassThrough } from 'node:stream';
import { GATEWAY_DEFAULTS, GatewayConfig, GatewayService } from '@studioline/gateway';
import { KeyService } from '@studioline/keys-admin';
import { RELAY_DEFAULTS, RelayService } from '@studioline/relay';
import { Backend, Bus, BusHandler, MemoryBus, Registry, createLogger, createMemoryBackend, createRedisBackend, generateApiKey, hashApiKey } from '@studioline/server-kit';

export interface TwoGateways {
  /** The gateways' http://host:port. */
  urls: [string, string];
  /** A static API key both gateways accept. */
  apiKey: string;
  /** The rules of API keys (create, revoke, change expiry), on the same backend. */
  keys: KeyService;
  metrics(gateway: 0 | 1): Promise<string>;
  /** The relay's metrics. */
  relayMetrics(): Promise<string>;
  stop(): Promise<void>;
}

export type BackendKind = 'memory' | { redisUrl: string; prefix: string };

/**
 * One service's view of a shared in-memory bus. The memory bus holds one handler per channel (one
 * process runs one gateway), but two gateways both listen on the broadcast channels (revocations,
 * key changes), as each does on its own Redis connection: the view fans a channel out to every
 * service subscribed to it.
 */
class BusHub {
  private readonly bus = new MemoryBus();
  private readonly listeners = new Map<string, Set<BusHandler>>();

  view(): Bus {
    const mine = new Map<string, BusHandler>();
    return {
      publish: (channel, head, body) => this.bus.publish(channel, head, body),
      subscribe: async (channel, handler) => {
        mine.set(channel, handler);
        let set = this.listeners.get(channel);
        if (!set) {
          this.listeners.set(channel, (set = new Set()));
          await this.bus.subscribe(channel, (msg) => {
            for (const h of this.listeners.get(channel) ?? []) h(msg);
          });
        }
        set.add(handler);
      },
      unsubscribe: async (channel) => {
        const handler = mine.get(channel);
        if (handler) this.listeners.get(channel)?.delete(handler);
        mine.delete(channel);
      },
    };
  }
}

export async function startTwoGateways(kind: BackendKind, gateway: Partial<GatewayConfig> = {}): Promise<TwoGateways> {
  const logger = createLogger('studioline', { destination: new PassThrough().resume() });
  const backends: Backend[] = [];
  const shared = kind === 'memory' ? createMemoryBackend() : undefined;
  const hub = new BusHub();
  const backend = (): Backend => {
    if (shared) return { ...shared, bus: hub.view() };
    const b = createRedisBackend({ url: (kind as { redisUrl: string }).redisUrl, prefix: (kind as { prefix: string }).prefix, logger });
    backends.push(b);
    return b;
  };
  const ready = async (b: Backend) => {
    if (!(await b.waitReady(10_000))) throw new Error('Redis did not answer');
    return b;
  };
  const apiKey = generateApiKey();
  const relayRegistry = new Registry();
  const relay = RelayService.create(RELAY_DEFAULTS, { backend: await ready(backend()), logger, registry: relayRegistry });
  await relay.start();
  const registries = [new Registry(), new Registry()];
  const gateways: GatewayService[] = [];
  for (const registry of registries) {
    const config: GatewayConfig = { ...GATEWAY_DEFAULTS, port: 0, metricsPort: 0, staticKeyHashes: [hashApiKey(apiKey)], drainDelayMs: 0, ...gateway };
    const g = GatewayService.create(config, { backend: await ready(backend()), logger, registry });
    await g.start();
    gateways.push(g);
  }
  const keys = new KeyService(await ready(backend()));
  return {
    urls: [gateways[0].url, gateways[1].url],
    apiKey,
    keys,
    metrics: (i) => registries[i].metrics(),
    relayMetrics: () => relayRegistry.metrics(),
    async stop() {
      for (const g of gateways) await g.destroy();
      await relay.destroy();
      if (shared) await shared.close();
      for (const b of backends) await b.close();
    },
  };
}
