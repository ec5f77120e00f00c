/**
 * The per-address counts behind the gateways' caps (server-kit address-counts.ts) behave alike on
 * both backends: caps over every gateway's share, key checks bounded by the limit minus the
 * failures, a failure counted in the step that ends its check. On Redis, a gateway's share stops
 * counting when its registration lapses, and a share lost with its hash (a store outage longer than
 * the lease) is written back by the next renewal.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Backend, createLogger, createMemoryBackend, createRedisBackend } from '@studioline/server-kit';
import { PassThrough } from 'node:stream';
import { redisForFile } from './helpers/redis.js';

const caps = { sockets: 3, unauthenticated: 2, failures: 3 };
const LEASE_MS = 5000;

function contract(name: string, make: () => Promise<Backend>, skip?: string) {
  describe(`address counts (${name})`, { skip, timeout: 60_000 }, () => {
    let backend: Backend;
    before(async () => {
      backend = await make();
      assert.ok(await backend.waitReady(10_000));
      for (const g of ['gw-a', 'gw-b']) await backend.gateways.heartbeat(g, LEASE_MS);
    });
    after(() => backend?.close());

    it('caps sockets and unauthenticated sockets over two gateways together; closing frees a place', async () => {
      const [a, b] = [backend.addressCounts('gw-a', LEASE_MS), backend.addressCounts('gw-b', LEASE_MS)];
      const address = '192.0.2.1';
      assert.equal(await a.admit(address, caps), 'ok');
      assert.equal(await b.admit(address, caps), 'ok');
      assert.equal(await a.admit(address, caps), 'too_many_unauthenticated');
      await a.authenticated(address);
      await b.authenticated(address);
      assert.equal(await b.admit(address, caps), 'ok');
      await b.authenticated(address);
      assert.equal(await a.admit(address, caps), 'too_many_sockets', '3 open over both');
      await b.closed(address, true);
      assert.equal(await a.admit(address, caps), 'ok');
      assert.equal(await a.admit('192.0.2.2', caps), 'ok', 'another address counts apart');
    });

    it('runs at most limit minus failures key checks at once; a failed check counts at its end', async () => {
      const [a, b] = [backend.addressCounts('gw-a', LEASE_MS), backend.addressCounts('gw-b', LEASE_MS)];
      const address = '198.51.100.7';
      assert.deepEqual([await a.beginCheck(address, 3), await b.beginCheck(address, 3), await a.beginCheck(address, 3)], ['go', 'go', 'go']);
      assert.equal(await b.beginCheck(address, 3), 'wait', 'three in flight: the fourth waits');
      await a.endCheck(address, false, 60_000);
      assert.equal(await b.beginCheck(address, 3), 'go', 'a good check ending frees its place');
      await a.endCheck(address, true, 60_000);
      assert.equal(await a.beginCheck(address, 3), 'wait', 'one failure and two in flight');
      await b.endCheck(address, true, 60_000);
      await b.endCheck(address, true, 60_000);
      assert.equal(await a.beginCheck(address, 3), 'refuse', 'three failures: no more checks');
      assert.equal(await a.admit(address, caps), 'too_many_attempts', 'nor sockets');
    });

    if (name === 'Redis') {
      it('a gateway whose registration lapsed stops counting, and a lost share is written back on renewal', async () => {
        const [a, dying] = [backend.addressCounts('gw-a', LEASE_MS), backend.addressCounts('gw-dying', 300)];
        await backend.gateways.heartbeat('gw-dying', 300);
        const address = '203.0.113.9';
        assert.equal(await dying.admit(address, caps), 'ok');
        assert.equal(await dying.admit(address, caps), 'ok');
        assert.equal(await a.admit(address, caps), 'too_many_unauthenticated');
        await new Promise((r) => setTimeout(r, 400)); // gw-dying stops renewing: its registration lapses
        assert.equal(await a.admit(address, caps), 'ok', 'the dead gateway’s share no longer counts');
        // gw-a's hash lost (as by an outage longer than the lease): the next renewal writes it back.
        await backend.gateways.heartbeat('gw-b', LEASE_MS);
        const b = backend.addressCounts('gw-b', LEASE_MS);
        const other = '203.0.113.10';
        assert.equal(await b.admit(other, caps), 'ok');
        assert.equal(await b.admit(other, caps), 'ok');
        await redis.get().client().del(backend.names.addressCounts('gw-b'));
        assert.equal(await a.admit(other, caps), 'ok', 'lost: not counted');
        await a.closed(other, false);
        await b.renew();
        assert.equal(await a.admit(other, caps), 'too_many_unauthenticated', 'written back: counted again');
      });
    }
  });
}

const logger = createLogger('test', { destination: new PassThrough().resume() });
contract('memory', async () => createMemoryBackend());

const redis = redisForFile();
contract('Redis', async () => createRedisBackend({ url: redis.get().url, prefix: redis.get().prefix(), logger }), redis.skip);
