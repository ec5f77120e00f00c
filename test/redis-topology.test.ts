/**
 * Acceptance 2, 3 and 4 of the foundation, and revocation across gateways: two gateway processes,
 * two relay processes, a keys-admin process and one real Redis (testcontainers).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NodePeer, PeerSummary, wavSource } from '@studioline/client';
import { FrameSealer, STUDIO_SAMPLE_RATE, bytesToHex, encodeAudioFrame, deriveLineId, isAudioEnvelope, isDeliverEnvelope, samplesPerFrame } from '@studioline/protocol';
import { pickRelay, unbatch } from '@studioline/server-kit';
import type { Redis } from 'ioredis';
import { longestSilence, noise } from './helpers/audio.js';
import { requireDocker } from './helpers/env.js';
import { newLink, rawJoin, sameLineVia, tonePeer, waitFor } from './helpers/peers.js';
import { ServiceProcess, startGateway, startKeysAdmin, startRelay } from './helpers/processes.js';
import { TestRedis, startRedis } from './helpers/redis.js';

const skip = requireDocker();


describe('Redis topology: 2 gateways, 2 relays, keys-admin, Redis', { skip }, () => {
  let redis: TestRedis;
  let env: Record<string, string>;
  let gateways: (ServiceProcess & { url: string; id: string })[] = [];
  let relays: (ServiceProcess & { id: string })[] = [];
  let admin: ServiceProcess & { url: string };
  let apiKey: string;
  let keyId: string;
  const adminToken = 'topology-admin-token-0123456789';

  const adminCall = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(admin.url + path, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    assert.ok(res.ok, `${method} ${path}: ${res.status}`);
    return (await res.json()) as Record<string, any>;
  };

  before(async () => {
    redis = await startRedis();
    env = { REDIS_URL: redis.url, REDIS_PREFIX: redis.prefix(), ADMIN_TOKEN: adminToken };
    relays = await Promise.all([startRelay(env), startRelay(env)]);
    gateways = await Promise.all([startGateway(env), startGateway(env)]);
    admin = await startKeysAdmin(env);
    const created = await adminCall('POST', '/v1/keys', { name: 'topology test' });
    apiKey = created.secret;
    keyId = created.key.id;
    assert.match(apiKey, /^[a-zA-Z]{72}$/);
    for (const g of gateways) await waitFor(async () => true, 1, '');
  });

  after(async () => {
    await Promise.all([...gateways, ...relays, admin].filter(Boolean).map((p) => p.kill('SIGKILL')));
    await redis?.stop();
  });

  const everything = () => [...gateways, ...relays, admin].map((p) => p.output()).join('\n');

  it('peers on different gateways exchange PCM bit-exactly, and the servers never see plaintext or the leaf', async () => {
    const link = newLink(gateways[0].url, apiKey);
    const seconds = 3;
    const frames = seconds * 100;
    const pcmA = noise(1, frames * samplesPerFrame(STUDIO_SAMPLE_RATE));
    const pcmB = noise(2, frames * samplesPerFrame(STUDIO_SAMPLE_RATE));

    // Capture every message that crosses Redis during the call.
    const spy: Redis = redis.client();
    const captured: Buffer[] = [];
    spy.on('pmessageBuffer', (_pattern: Buffer, _channel: Buffer, message: Buffer) => captured.push(message));
    await spy.psubscribe(`${env.REDIS_PREFIX}*`);

    const [a, b] = await Promise.all([
      new NodePeer({ link, source: wavSource({ sampleRate: STUDIO_SAMPLE_RATE, samples: pcmA }), seconds, record: true }).run(),
      new NodePeer({ link: sameLineVia(link, gateways[1].url), source: wavSource({ sampleRate: STUDIO_SAMPLE_RATE, samples: pcmB }), seconds, record: true }).run(),
    ]);
    await spy.punsubscribe();
    for (const s of [a, b]) assert.deepEqual([s.sent, s.received, s.lost, s.decryptFailed], [frames, frames, 0, 0]);
    assert.deepEqual(a.recording!.samples, pcmB, 'a heard exactly what b sent');
    assert.deepEqual(b.recording!.samples, pcmA, 'b heard exactly what a sent');

    // Audio crossed Redis twice per frame (gateway -> relay -> gateway), as ciphertext only. (A Redis
    // message may be a batch of the envelopes one process published in one event-loop turn.)
    const envelopes: Buffer[] = [];
    for (const m of captured) unbatch(m, (e) => envelopes.push(e));
    const audio = envelopes.filter((m) => isAudioEnvelope(m) || isDeliverEnvelope(m));
    assert.ok(audio.length >= 4 * frames, `captured ${audio.length} audio envelopes`);
    const secrets: Buffer[] = [Buffer.from(link.leaf!), Buffer.from(link.leafBytes!), Buffer.from(bytesToHex(link.leafBytes!)), Buffer.from(apiKey)];
    const pcmBytes = (pcm: Int16Array) => Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
    // 64 windows of 24 bytes of the PCM that was sent, from frames across the call.
    const patterns: Buffer[] = [];
    for (let f = 0; f < frames; f += 10) {
      for (const pcm of [pcmA, pcmB]) patterns.push(pcmBytes(pcm).subarray(f * 4000 + 100, f * 4000 + 124));
    }
    const leaks = (text: Buffer) => [...secrets, ...patterns].some((s) => text.includes(s));
    assert.equal(captured.filter(leaks).length, 0, 'no Redis message holds plaintext, the leaf or the API key');

    // Nor any Redis key or value, any log line, or any metric.
    const db = redis.client();
    const keys = await db.keys('*');
    assert.ok(keys.length > 0);
    for (const key of keys) {
      const type = await db.type(key);
      const read: Record<string, () => Promise<unknown>> = {
        hash: () => db.hgetall(key),
        string: () => db.get(key),
        list: () => db.lrange(key, 0, -1),
        set: () => db.smembers(key),
        zset: () => db.zrange(key, 0, -1),
      };
      assert.ok(read[type], `unexpected Redis type ${type} at ${key}`);
      const dump = JSON.stringify(await read[type]());
      assert.ok(!leaks(Buffer.from(key + ' ' + dump)), `Redis key ${key} leaks a secret`);
    }
    assert.ok(!leaks(Buffer.from(everything())), 'no log line leaks a secret');
    for (const g of gateways) assert.ok(!leaks(Buffer.from(await (await fetch(`${g.url}/metrics`)).text())), 'no metric leaks a secret');
    assert.match(everything(), /connection received/);
  });

  it('a relay killed mid-call: audio resumes within 5 s, no decrypt failures, peers stay connected', async (t) => {
    const link = newLink(gateways[0].url, apiKey);
    const lineId = await deriveLineId(link.leafBytes!);
    const arrivals: number[][] = [[], []];
    const run = (l: typeof link, f: number, i: number) => tonePeer(l, f, 10, { onAudio: (_s, _c, at) => arrivals[i].push(at) }).run();
    const call = Promise.all([run(link, 440, 0), run(sameLineVia(link, gateways[1].url), 1000, 1)]);
    await waitFor(() => arrivals[0].length > 200 && arrivals[1].length > 200, 10_000, 'audio flowing');
    const owner = relays.find((r) => r.id === pickRelay(lineId, relays.map((x) => x.id)))!;
    const killedAt = performance.now();
    await owner.kill('SIGKILL');
    const [a, b]: PeerSummary[] = await call;
    for (const [i, s] of [a, b].entries()) {
      assert.equal(s.decryptFailed, 0);
      assert.equal(s.reconnects, 0, 'the peers stayed connected');
      assert.ok(arrivals[i].filter((t) => t > killedAt).length > 100, 'audio resumed');
      const gap = longestSilence(arrivals[i], killedAt);
      assert.ok(gap < 5000, `longest silence after the kill: ${gap.toFixed(0)} ms`);
      t.diagnostic(`peer ${i}: longest silence after the relay kill ${gap.toFixed(0)} ms, lost ${s.lost} of ${s.received + s.lost} frames`);
    }
    relays = relays.filter((r) => r !== owner);
    relays.push(await startRelay(env));
  });

  it('revoking a key closes its sockets on both gateways within 1 s, and refuses it from then on', async (t) => {
    const link = newLink(gateways[0].url, apiKey);
    const a = await rawJoin(link);
    const b = await rawJoin(sameLineVia(link, gateways[1].url));
    await waitFor(() => a.messages.find((m) => m.type === 'joined') && b.messages.find((m) => m.type === 'joined'), 5000, 'both joined');
    const start = performance.now();
    await adminCall('POST', `/v1/keys/${keyId}/revoke`);
    const closes = await Promise.all([a.closed, b.closed].map((p) => p.then((c) => ({ ...c, ms: performance.now() - start }))));
    for (const c of closes) {
      assert.equal(c.code, 4403);
      assert.equal(c.reason, 'key_revoked');
      assert.ok(c.ms < 1000, `closed ${c.ms.toFixed(0)} ms after the revocation`);
      t.diagnostic(`socket closed ${c.ms.toFixed(1)} ms after the revocation request began`);
    }
    const again = await rawJoin(sameLineVia(link, gateways[1].url));
    assert.equal((await again.closed).code, 4403);
    const audit = await adminCall('GET', '/v1/audit');
    assert.deepEqual(audit.entries.map((e: { action: string }) => e.action).slice(0, 2), ['revoke', 'create']);
  });

  it("a peer's pong carries the servers' share of its frames' way (the page adds it to the latency it shows)", async () => {
    const link = newLink(gateways[0].url, (await adminCall('POST', '/v1/keys', { name: 'pong' })).secret);
    const listener = await rawJoin(sameLineVia(link, gateways[1].url));
    const sender = await rawJoin(link);
    await waitFor(() => listener.messages.some((m) => m.type === 'peer_joined'), 5000, 'listener told of the sender');
    const pong = async (t: number) => {
      listener.ws.send(JSON.stringify({ type: 'ping', t }));
      return waitFor(() => listener.messages.find((m) => m.type === 'pong' && m.t === t), 5000, `pong ${t}`);
    };
    assert.equal((await pong(1)).serverMs, undefined, 'no figure before any frame came');
    const sealer = await FrameSealer.create(link.leafBytes!, sender.sender);
    for (let ctr = 0; ctr < 20; ctr++) sender.ws.send(await sealer.seal(ctr, encodeAudioFrame(STUDIO_SAMPLE_RATE, new Int16Array(samplesPerFrame(STUDIO_SAMPLE_RATE)))));
    await waitFor(() => listener.frames.count === 20, 5000, 'the frames, through Redis and a relay');
    const { serverMs } = await pong(2);
    assert.equal(typeof serverMs, 'number');
    // Gateway to Redis to relay to Redis to gateway: more than nothing, less than the test's own wait.
    assert.ok((serverMs as number) > 0 && (serverMs as number) < 5000, `serverMs ${serverMs}`);
    sender.ws.close();
    listener.ws.close();
  });

  it('SIGTERM on a gateway: not ready at once, calls closed with 1001 so peers move, and the process exits by itself', async () => {
    const gateway = gateways[1];
    const client = await rawJoin(newLink(gateway.url, (await adminCall('POST', '/v1/keys', { name: 'drain' })).secret));
    await waitFor(() => client.messages.find((m) => m.type === 'joined'), 5000, 'joined');
    const start = performance.now();
    gateway.child.kill('SIGTERM');
    await waitFor(async () => true, 1, '');
    let status = 0;
    for (let i = 0; i < 20 && status !== 503; i++) {
      status = (await fetch(`${gateway.url}/readyz`)).status;
      if (status !== 503) await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(status, 503, 'readiness fails while draining');
    const closed = await client.closed;
    assert.deepEqual([closed.code, closed.reason], [1001, 'draining']);
    assert.equal(client.messages.at(-1)?.code, 'draining');
    assert.equal(await gateway.exited, 0);
    assert.ok(performance.now() - start < 5000, 'exited well before the drain deadline');
    gateways = gateways.filter((g) => g !== gateway);
  });
});
