/**
 * Issue 11 item 1 across gateways: two gateway processes and a relay on one real Redis. The
 * failed-key limit, the unauthenticated-socket cap and the open-socket cap of one client address
 * hold over both gateways together; honest joins that arrive together all get in; a gateway that
 * dies leaves no count behind.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { STUDIO_SAMPLE_RATE, deriveLineId, encodeJoin, randomSenderId } from '@studioline/protocol';
import { generateApiKey } from '@studioline/server-kit';
import { metricValue } from './helpers/embedded.js';
import { requireDocker } from './helpers/env.js';
import { RawClient, newLink, openSocket, rawJoin, waitFor } from './helpers/peers.js';
import { ServiceProcess, startGateway, startRelay } from './helpers/processes.js';
import { TestRedis, startRedis } from './helpers/redis.js';

const skip = requireDocker();

type Gateway = ServiceProcess & { url: string; id: string };


/** Polls an async probe until it gives a value (a bounded loop). */
async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const total = async (gateways: Gateway[], name: string, labels: Record<string, string> = {}) => {
  let sum = 0;
  for (const g of gateways) sum += metricValue(await (await fetch(`${g.url}/metrics`)).text(), name, labels);
  return sum;
};

describe('per-address limits across 2 gateways on one Redis', { skip, timeout: 120_000 }, () => {
  let redis: TestRedis;
  const apiKey = generateApiKey();
  const started: ServiceProcess[] = [];

  /** A relay and two gateways with their own key prefix (so each test starts from zero counts). */
  const deployment = async (settings: Record<string, string>): Promise<Gateway[]> => {
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: redis.prefix(), APIKEY: apiKey, GATEWAY_HEARTBEAT_MS: '200', GATEWAY_TTL_MS: '1000', ...settings };
    const relay = await startRelay(env);
    const gateways = await Promise.all([startGateway(env), startGateway(env)]);
    started.push(relay, ...gateways);
    return gateways;
  };

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await Promise.all(started.map((p) => p.kill('SIGKILL')));
    await redis?.stop();
  });

  it('40 concurrent sockets split over 2 gateways get no more guesses than AUTH_FAIL_LIMIT', async (t) => {
    const gateways = await deployment({ AUTH_FAIL_LIMIT: '10', UNAUTHENTICATED_PER_ADDRESS: '100' });
    const line = await deriveLineId(newLink(gateways[0].url, apiKey).leafBytes!);
    const sockets = await Promise.all(Array.from({ length: 40 }, (_, i) => openSocket(gateways[i % 2].url, apiKey)));
    assert.ok(sockets.every((s) => s.status === 101), 'all 40 open');
    const closes = await Promise.all(
      sockets.map(
        ({ ws }, i) =>
          new Promise<number>((resolve) => {
            ws.on('close', (code) => resolve(code));
            ws.send(encodeJoin('g'.repeat(60) + String(i).padStart(12, 'x'), line, randomSenderId(), STUDIO_SAMPLE_RATE));
          }),
      ),
    );
    const guesses = closes.filter((c) => c === 4401).length;
    const limited = closes.filter((c) => c === 4429).length;
    t.diagnostic(`${guesses} guesses checked, ${limited} refused as too many attempts`);
    assert.equal(guesses, 10, 'exactly the limit of guesses, over both gateways together');
    assert.equal(limited, 30);
    assert.equal(await total(gateways, 'studioline_gateway_auth_failures_total', { reason: 'unknown' }), 10);
    assert.equal(await total(gateways, 'studioline_gateway_auth_failures_total', { reason: 'rate_limited' }), 30);
    assert.ok((await total(gateways, 'studioline_gateway_key_checks_waited_total')) > 0, 'the checks beyond the limit waited first');
    for (const g of gateways) {
      const next = await openSocket(g.url, apiKey);
      next.ws.terminate();
      assert.equal(next.status, 429, 'and the next upgrade is refused on either gateway');
    }
  });

  it('40 honest joins from one address at once, over 2 gateways, all get in (checks wait, they are not refused)', async (t) => {
    const gateways = await deployment({ AUTH_FAIL_LIMIT: '10', UNAUTHENTICATED_PER_ADDRESS: '100' });
    const clients: RawClient[] = await Promise.all(Array.from({ length: 40 }, (_, i) => rawJoin(newLink(gateways[i % 2].url, apiKey))));
    await waitFor(() => clients.every((c) => c.messages.some((m) => m.type === 'joined' || m.type === 'error')), 15_000, 'every join answered');
    const errors = clients.flatMap((c) => c.messages.filter((m) => m.type === 'error').map((m) => m.code));
    t.diagnostic(`refused: ${errors.length} ${errors.join(' ')}`);
    assert.deepEqual(errors, []);
    for (const c of clients) c.ws.close();
    await Promise.all(clients.map((c) => c.closed));
  });

  it('unauthenticated and open sockets of one address are capped over both gateways together', async () => {
    const gateways = await deployment({ UNAUTHENTICATED_PER_ADDRESS: '6', SOCKETS_PER_ADDRESS: '8' });
    // 10 idle sockets at once, 5 to each gateway: 6 open in all.
    const idle = await Promise.all(Array.from({ length: 10 }, (_, i) => openSocket(gateways[i % 2].url, apiKey)));
    assert.equal(idle.filter((s) => s.status === 101).length, 6);
    assert.equal(idle.filter((s) => s.status === 429).length, 4);
    assert.equal(await total(gateways, 'studioline_gateway_upgrades_refused_total', { reason: 'too_many_unauthenticated' }), 4);
    for (const s of idle) s.ws.terminate();
    // Closed sockets give their places back (the close reaches the gateways a moment later).
    const joined: RawClient[] = [];
    for (let i = 0; i < 8; i++) {
      let client: RawClient | undefined;
      for (let attempt = 0; attempt < 50 && !client; attempt++) {
        client = await rawJoin(newLink(gateways[i % 2].url, apiKey)).catch(() => undefined);
        if (!client) await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(client, `socket ${i} opened`);
      await waitFor(() => client.messages.some((m) => m.type === 'joined'), 5000, 'joined');
      joined.push(client);
    }
    // 8 joined peers, 4 on each gateway: a ninth socket is refused on either.
    for (const g of gateways) assert.equal((await openSocket(g.url, apiKey)).status, 429);
    assert.equal(await total(gateways, 'studioline_gateway_upgrades_refused_total', { reason: 'too_many_sockets' }), 2);
    joined[0].ws.close();
    await joined[0].closed;
    const again = await eventually(
      async () => {
        const s = await openSocket(gateways[1].url, apiKey);
        if (s.status === 101) return s;
        s.ws.terminate();
        return undefined;
      },
      5000,
      'a place freed on the other gateway',
    );
    again.ws.terminate();
    for (const c of joined.slice(1)) c.ws.close();
  });

  it('a gateway killed while holding sockets leaves no count behind: its share lapses with its registration', async () => {
    const gateways = await deployment({ UNAUTHENTICATED_PER_ADDRESS: '4' });
    const held = await Promise.all(Array.from({ length: 4 }, () => openSocket(gateways[0].url, apiKey)));
    assert.deepEqual(held.map((s) => s.status), [101, 101, 101, 101]);
    assert.equal((await openSocket(gateways[1].url, apiKey)).status, 429, 'the other gateway sees them');
    await gateways[0].kill('SIGKILL');
    // GATEWAY_TTL_MS is 1000: within a few seconds the dead gateway's share no longer counts.
    const reopened = await eventually(
      async () => {
        const batch = await Promise.all(Array.from({ length: 4 }, () => openSocket(gateways[1].url, apiKey)));
        if (batch.every((s) => s.status === 101)) return batch;
        for (const s of batch) s.ws.terminate();
        return undefined;
      },
      5000,
      'the dead gateway’s sockets to stop counting',
    );
    for (const s of reopened) s.ws.terminate();
  });
});
