/**
 * studioline_redis_reconnects_total counts every retry of every Redis connection of a process (the
 * commands connection and the audio bus's publisher and subscriber), as docs/metrics.md says.
 * Before, only the gateway counted, and only once per recovered outage.
 */
import assert from 'node:assert/strict';
import { AddressInfo, createServer } from 'node:net';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createRedisBackend } from '../src/backend.js';
import { createLogger } from '../src/logger.js';

async function counter(registry: Registry): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === 'studioline_redis_reconnects_total');
  return Number(m?.values[0]?.value ?? NaN);
}

describe('studioline_redis_reconnects_total', () => {
  it('counts the retries of the commands connection and of the bus connections while Redis is unreachable', async () => {
    // A port nothing listens on: every connection attempt is refused at once.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise((r) => probe.close(r));

    const backend = createRedisBackend({ url: `redis://127.0.0.1:${port}`, logger: createLogger('test', { level: 'silent' }) });
    const registry = new Registry();
    backend.registerMetrics(registry);
    try {
      assert.equal(await counter(registry), 0);
      // Retries back off from a few hundred ms: bounded wait for the first few.
      const until = Date.now() + 10_000;
      while ((await counter(registry)) < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      assert.ok((await counter(registry)) >= 3, `retries counted: ${await counter(registry)}`);
      assert.equal(backend.isReady(), false);
    } finally {
      await backend.close();
    }
  });
});
