import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export { Counter, Registry };

/**
 * A registry with the process metrics (CPU, memory, event loop lag) registered once. In the
 * embedded mode all services share one registry; each service adds its own metrics from its own
 * metrics module, with names prefixed by the service.
 */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'studioline_' });
  return registry;
}

/** A gauge read from live state at scrape time (nothing to keep in step on the hot path). */
export function stateGauge(registry: Registry, name: string, help: string, read: () => number): Gauge {
  return new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/**
 * studioline_redis_reconnects_total: one per attempt to reconnect any Redis connection of the
 * process (commands, audio publisher, audio subscriber). Registered by the backend, in memory too
 * (where it stays 0), so that every process exports the same names.
 */
export function createRedisReconnectsCounter(registry: Registry): Counter {
  return new Counter({
    name: 'studioline_redis_reconnects_total',
    help: 'Attempts to reconnect to Redis (commands, audio publisher or audio subscriber connection)',
    registers: [registry],
  });
}
