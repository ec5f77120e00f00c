/**
 * The in-memory and the Redis backends behave alike: the same assertions run on both, so that
 * `npm start` and a deployment differ only in scale.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Backend, MAX_PUBLISH_BACKLOG_BYTES, createLogger, createMemoryBackend, createRedisBackend, hashApiKey } from '@studioline/server-kit';
import { requireDocker } from './helpers/env.js';
import { TestRedis, startRedis } from './helpers/redis.js';

const skipRedis = requireDocker();

function contract(name: string, make: () => Promise<Backend>, skip?: string) {
  describe(`${name} backend`, { skip }, () => {
    let backend: Backend;
    before(async () => {
      backend = await make();
      assert.ok(await backend.waitReady(10_000));
    });
    after(() => backend?.close());

    it('delivers bus messages to the subscriber, in order and byte for byte', async () => {
      const got: Buffer[] = [];
      await backend.bus.subscribe(backend.names.relayChannel('r1'), (m) => got.push(Buffer.from(m)));
      const sent = [Buffer.from([1, 0, 255, 7]), Buffer.from('{"t":"x"}'), Buffer.alloc(4000, 9)];
      for (const m of sent) assert.equal(backend.bus.publish(backend.names.relayChannel('r1'), m), true);
      const until = Date.now() + 2000;
      while (got.length < sent.length && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(got, sent);
      await backend.bus.unsubscribe(backend.names.relayChannel('r1'));
    });

    it('delivers a burst of messages (as Redis batches them) whole and in order, from one part or two', async () => {
      const channel = backend.names.gatewayChannel('g1');
      const got: Buffer[] = [];
      await backend.bus.subscribe(channel, (m) => got.push(Buffer.from(m)));
      // A burst of one event-loop turn, past the 256 kB batch limit, with messages that start with
      // the batch marker byte (0x00) among them; then a lone message that starts with it.
      const sent: Buffer[] = [];
      for (let i = 0; i < 150; i++) {
        const head = Buffer.from([i % 3 === 0 ? 0 : 2, i, 0xff]);
        const body = i % 5 === 0 ? undefined : Buffer.alloc(4032, i);
        assert.equal(backend.bus.publish(channel, head, body), true);
        sent.push(body ? Buffer.concat([head, body]) : head);
      }
      await new Promise((r) => setImmediate(r));
      assert.equal(backend.bus.publish(channel, Buffer.from([0, 0, 0, 1, 9])), true);
      sent.push(Buffer.from([0, 0, 0, 1, 9]));
      const until = Date.now() + 3000;
      while (got.length < sent.length && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      assert.equal(got.length, sent.length);
      assert.ok(got.every((m, i) => m.equals(sent[i])), 'every message byte for byte, in order');
      await backend.bus.unsubscribe(channel);
    });

    it('stores keys by digest, finds them by id, replaces the digest on rotation, keeps an audit log', async () => {
      const hash = hashApiKey('secret-one');
      await backend.keys.put({ id: 'key_a', name: 'a', prefix: 'secr', hash, createdAt: 1000 });
      assert.equal((await backend.keys.findByHash(hash))?.id, 'key_a');
      assert.equal((await backend.keys.findById('key_a'))?.hash, hash);
      const rotated = hashApiKey('secret-two');
      await backend.keys.put({ id: 'key_a', name: 'a', prefix: 'secr', hash: rotated, createdAt: 1000, revokedAt: undefined }, hash);
      assert.equal(await backend.keys.findByHash(hash), undefined);
      assert.equal((await backend.keys.findById('key_a'))?.hash, rotated);
      await backend.keys.put({ id: 'key_a', name: 'a', prefix: 'secr', hash: rotated, createdAt: 1000, revokedAt: 2000 });
      assert.equal((await backend.keys.findByHash(rotated))?.revokedAt, 2000);
      assert.deepEqual((await backend.keys.list()).map((k) => k.id), ['key_a']);
      await backend.keys.appendAudit({ at: 1, action: 'create', keyId: 'key_a', actor: 't' });
      await backend.keys.appendAudit({ at: 2, action: 'revoke', keyId: 'key_a', actor: 't' });
      assert.deepEqual((await backend.keys.audit(10)).map((e) => e.action), ['revoke', 'create']);
    });

    it('forgets a process whose heartbeat lapsed, and counts auth failures in a window', async () => {
      await backend.relays.heartbeat('relay-b', 60_000);
      await backend.relays.heartbeat('relay-a', 150);
      assert.deepEqual(await backend.relays.live(), ['relay-a', 'relay-b']);
      await new Promise((r) => setTimeout(r, 250));
      assert.deepEqual(await backend.relays.live(), ['relay-b']);
      await backend.relays.remove('relay-b');
      assert.deepEqual(await backend.relays.live(), []);
      assert.equal(await backend.authFailures.record('10.0.0.1', 200), 1);
      assert.equal(await backend.authFailures.record('10.0.0.1', 200), 2);
      assert.equal(await backend.authFailures.count('10.0.0.1'), 2);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await backend.authFailures.count('10.0.0.1'), 0);
    });
  });
}

let redis: TestRedis | undefined;
contract('memory', async () => createMemoryBackend());
contract(
  'Redis',
  async () => {
    redis = await startRedis();
    return createRedisBackend({ url: redis.url, prefix: redis.prefix(), logger: createLogger('test', { level: 'silent' }) });
  },
  skipRedis,
);
after(() => redis?.stop());

describe('Redis bus while Redis stops reading', { skip: skipRedis }, () => {
  it('drops messages instead of queueing once 8 MB wait unwritten, and carries on when Redis reads again', async () => {
    const stalled = await startRedis();
    const backend = createRedisBackend({ url: stalled.url, prefix: stalled.prefix(), logger: createLogger('test', { level: 'silent' }) });
    try {
      assert.ok(await backend.waitReady(10_000));
      const channel = backend.names.relayChannel('r1');
      const got: Buffer[] = [];
      await backend.bus.subscribe(channel, (m) => got.push(Buffer.from(m)));
      execFileSync('docker', ['pause', stalled.container.getId()]);
      let accepted = 0;
      let refused = 0;
      const frame = Buffer.alloc(4032, 1);
      // Kernel and proxy buffers take the first megabytes; then the backlog grows to the limit.
      for (let turn = 0; turn < 2000 && refused === 0; turn++) {
        for (let i = 0; i < 64; i++) {
          if (backend.bus.publish(channel, Buffer.from([1]), frame)) accepted++;
          else refused++;
        }
        await new Promise((r) => setImmediate(r));
      }
      assert.ok(refused > 0, `a publish was refused (after ${accepted} accepted)`);
      assert.ok(accepted * 4033 >= MAX_PUBLISH_BACKLOG_BYTES, 'not before the backlog limit');
      execFileSync('docker', ['unpause', stalled.container.getId()]);
      const marker = Buffer.from([2, 42]);
      const until = Date.now() + 15_000;
      while (!got.some((m) => m.equals(marker)) && Date.now() < until) {
        backend.bus.publish(channel, marker);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(got.some((m) => m.equals(marker)), 'messages flow again once Redis reads');
    } finally {
      try {
        execFileSync('docker', ['unpause', stalled.container.getId()], { stdio: 'ignore' });
      } catch {
        /* not paused */
      }
      await backend.close();
      await stalled.stop();
    }
  });
});
