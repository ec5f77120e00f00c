/**
 * The per-key seats behind the API keys' limits (server-kit key-seats.ts) behave alike on both
 * backends: max peers and max lines over every gateway's share (a line with peers on two gateways
 * is one line), releases free seats. On Redis, 20 claims racing for 3 seats from two gateways get
 * exactly 3; a gateway whose registration lapsed stops counting and its seats are deleted; a share
 * the store lost is written back by the next renewal.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Backend, createLogger, createMemoryBackend, createRedisBackend } from '@studioline/server-kit';
import { redisForFile } from './helpers/redis.js';

const LEASE_MS = 5000;
const none = { maxPeers: 0, maxLines: 0 };

function contract(name: string, make: () => Promise<Backend>, skip?: string) {
  describe(`key seats (${name})`, { skip, timeout: 60_000 }, () => {
    let backend: Backend;
    before(async () => {
      backend = await make();
      assert.ok(await backend.waitReady(10_000));
      for (const g of ['gw-a', 'gw-b']) await backend.gateways.heartbeat(g, LEASE_MS);
    });
    after(() => backend?.close());

    it('max peers and max lines hold over two gateways together; a line on both counts once; releasing frees', async () => {
      const [a, b] = [backend.keySeats('gw-a', LEASE_MS), backend.keySeats('gw-b', LEASE_MS)];
      const limits = { maxPeers: 3, maxLines: 2 };
      assert.equal(await a.claim('key_one', 'line-1', limits), 'ok');
      assert.equal(await b.claim('key_one', 'line-1', limits), 'ok', 'the same line through the other gateway');
      assert.equal(await b.claim('key_one', 'line-2', limits), 'ok', 'a second line');
      assert.equal(await a.claim('key_one', 'line-2', limits), 'key_peer_limit', 'three peers over both');
      await a.release('key_one', 'line-1');
      assert.equal(await a.claim('key_one', 'line-3', limits), 'key_line_limit', 'two lines (line-1 still has a peer on gw-b)');
      assert.equal(await a.claim('key_one', 'line-2', limits), 'ok', 'a line already counted');
      assert.equal(await a.claim('key_two', 'line-3', none), 'ok', 'another key counts apart');
    });

    if (name === 'Redis') {
      it('20 claims from two gateways racing for 3 seats: exactly 3 win', async () => {
        const [a, b] = [backend.keySeats('gw-a', LEASE_MS), backend.keySeats('gw-b', LEASE_MS)];
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).claim('key_race', `line-${i}`, { maxPeers: 3, maxLines: 0 })));
        assert.equal(results.filter((r) => r === 'ok').length, 3);
        assert.equal(results.filter((r) => r === 'key_peer_limit').length, 17);
      });

      it('a gateway whose registration lapsed stops counting; a share the store lost is written back', async () => {
        const a = backend.keySeats('gw-a', LEASE_MS);
        const dying = backend.keySeats('gw-dying', 300);
        await backend.gateways.heartbeat('gw-dying', 300);
        const limits = { maxPeers: 2, maxLines: 0 };
        assert.equal(await dying.claim('key_lease', 'l1', limits), 'ok');
        assert.equal(await dying.claim('key_lease', 'l2', limits), 'ok');
        assert.equal(await a.claim('key_lease', 'l3', limits), 'key_peer_limit');
        await new Promise((r) => setTimeout(r, 400)); // gw-dying stops renewing: its registration lapses
        assert.equal(await a.claim('key_lease', 'l3', limits), 'ok', 'the dead gateway’s seats no longer count');
        const fields = await redis.get().client().hkeys(backend.names.keySeats('key_lease'));
        assert.ok(!fields.some((f) => f.startsWith('gw-dying|')), `its fields were deleted: ${fields}`);
        // The store loses the key's seats (as by a restart): gw-a's next renewal writes its share back.
        await redis.get().client().del(backend.names.keySeats('key_lease'));
        const b = backend.keySeats('gw-b', LEASE_MS);
        assert.equal(await b.claim('key_lease', 'l4', { maxPeers: 2, maxLines: 0 }), 'ok', 'lost: not counted');
        await b.release('key_lease', 'l4');
        await a.renew();
        assert.equal(await b.claim('key_lease', 'l4', { maxPeers: 1, maxLines: 0 }), 'key_peer_limit', 'written back: counted again');
      });
    }
  });
}

const logger = createLogger('test', { destination: new PassThrough().resume() });
contract('memory', async () => createMemoryBackend());

const redis = redisForFile();
contract('Redis', async () => createRedisBackend({ url: redis.get().url, prefix: redis.get().prefix(), logger }), redis.skip);
