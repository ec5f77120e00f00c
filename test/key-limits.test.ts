/**
 * Issue 13 item 4 across gateways: two gateway processes and a relay on one real Redis, keys made
 * with limits on the same store. Two gateways racing for a key's last seat: exactly one wins; a
 * gateway killed while holding a key's seats gives them back within its lease; each limit (peers,
 * lines, mobile only) is refused with its close code and words, and counted; a line's size is the
 * host's link's, bounded by the key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COMPACT_LAYER_ONLY, ERRORS, ErrorCode, MOBILE_SAMPLE_RATE, formatCallLink, generateLeaf, parseCallLink } from '@studioline/protocol';
import { KeyService } from '@studioline/keys-admin';
import { Backend, KeyLimits, createLogger, createRedisBackend, generateApiKey } from '@studioline/server-kit';
import { metricValue } from './helpers/embedded.js';
import { requireDocker } from './helpers/env.js';
import { RawClient, rawJoin, waitFor } from './helpers/peers.js';
import { ServiceProcess, startGateway, startRelay } from './helpers/processes.js';
import { TestRedis, startRedis } from './helpers/redis.js';

const skip = requireDocker();

type Gateway = ServiceProcess & { url: string; id: string };

/** How a raw join ended: joined, or refused with an error code and close code. */
async function outcome(c: RawClient): Promise<{ joined: boolean; code?: string; closeCode?: number; message?: string; capacity?: number }> {
  const answer = await waitFor(() => c.messages.find((m) => m.type === 'joined' || m.type === 'error'), 10_000, 'the join answered');
  if (answer.type === 'joined') return { joined: true, capacity: answer.capacity as number };
  const closed = await c.closed;
  return { joined: false, code: answer.code as string, message: answer.message as string, closeCode: closed.code };
}

const GATEWAY_TTL_MS = 1000;

describe('per-key limits across 2 gateways on one Redis', { skip, timeout: 120_000 }, () => {
  let redis: TestRedis;
  const started: ServiceProcess[] = [];
  const backends: Backend[] = [];

  /** A relay, two gateways and the key rules on a fresh key prefix. */
  const deployment = async (): Promise<{ gateways: Gateway[]; keys: KeyService }> => {
    const prefix = redis.prefix();
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: prefix, GATEWAY_HEARTBEAT_MS: '200', GATEWAY_TTL_MS: String(GATEWAY_TTL_MS) };
    const relay = await startRelay(env);
    const gateways = await Promise.all([startGateway(env), startGateway(env)]);
    started.push(relay, ...gateways);
    const backend = createRedisBackend({ url: redis.url, prefix, logger: createLogger('test', { level: 'silent' }) });
    backends.push(backend);
    await backend.waitReady(10_000);
    return { gateways, keys: new KeyService(backend) };
  };
  const keyWith = async (keys: KeyService, limits: KeyLimits) => (await keys.create({ name: 'limited', limits }, 'test')).secret;
  const join = (url: string, secret: string, options: { leaf?: string; rate?: number; peers?: number } = {}) =>
    rawJoin(parseCallLink(formatCallLink(url, secret, options.leaf ?? generateLeaf(), false, options.peers)), { rate: options.rate, layers: options.rate === MOBILE_SAMPLE_RATE ? COMPACT_LAYER_ONLY : undefined });
  const total = async (gateways: Gateway[], code: ErrorCode) => {
    let sum = 0;
    for (const g of gateways) sum += metricValue(await (await fetch(`${g.url}/metrics`)).text(), 'studioline_gateway_refusals_total', { code });
    return sum;
  };

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await Promise.all(started.map((p) => p.kill('SIGKILL')));
    for (const b of backends) await b.close();
    await redis?.stop();
  });

  it('two gateways racing for a key’s last seat: exactly one wins, every time', async (t) => {
    const { gateways, keys } = await deployment();
    const rounds = 8;
    let winsOn = [0, 0];
    for (let round = 0; round < rounds; round++) {
      const secret = await keyWith(keys, { maxPeers: 2 });
      const first = await join(gateways[round % 2].url, secret);
      assert.equal((await outcome(first)).joined, true);
      // The last seat: one join through each gateway, sent at the same moment.
      const racers = await Promise.all(gateways.map((g) => join(g.url, secret)));
      const results = await Promise.all(racers.map(outcome));
      const winners = results.filter((r) => r.joined);
      assert.equal(winners.length, 1, `round ${round}: ${JSON.stringify(results)}`);
      const loser = results.find((r) => !r.joined)!;
      assert.equal(loser.code, 'key_peer_limit');
      assert.equal(loser.closeCode, ERRORS.key_peer_limit.closeCode);
      assert.equal(loser.message, ERRORS.key_peer_limit.message);
      winsOn = winsOn.map((n, i) => n + (results[i].joined ? 1 : 0));
      for (const c of [first, ...racers]) c.ws.close();
    }
    t.diagnostic(`last seat won through gateway 0 ${winsOn[0]} times, gateway 1 ${winsOn[1]} times`);
    assert.equal(await total(gateways, 'key_peer_limit'), rounds, 'each refusal counted');
  });

  it('each limit is refused with its code and words: lines, mobile only; a line’s size is the link’s, bounded by the key', async () => {
    const { gateways, keys } = await deployment();
    // max lines 1: a second peer on the same line is fine, a peer on another line is not.
    const oneLine = await keyWith(keys, { maxLines: 1 });
    const leaf = generateLeaf();
    const a = await join(gateways[0].url, oneLine, { leaf });
    const b = await join(gateways[1].url, oneLine, { leaf });
    assert.equal((await outcome(a)).joined, true);
    assert.equal((await outcome(b)).joined, true, 'the same line, through the other gateway');
    const other = await outcome(await join(gateways[1].url, oneLine));
    assert.deepEqual([other.code, other.closeCode, other.message], ['key_line_limit', ERRORS.key_line_limit.closeCode, ERRORS.key_line_limit.message]);
    // Once the line ends (both peers leave), the key may open another.
    a.ws.close();
    b.ws.close();
    await Promise.all([a.closed, b.closed]);
    let reopened = false;
    for (let attempt = 0; attempt < 50 && !reopened; attempt++) {
      const c = await join(gateways[0].url, oneLine);
      reopened = (await outcome(c)).joined;
      c.ws.close();
      if (!reopened) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(reopened, 'a new line once the old one ended');

    // mobile only: a full-rate join is refused; a mobile (48 kHz) join gets in.
    const mobile = await keyWith(keys, { mobileOnly: true });
    const full = await outcome(await join(gateways[0].url, mobile));
    assert.deepEqual([full.code, full.closeCode, full.message], ['key_mobile_only', 4403, ERRORS.key_mobile_only.message]);
    const phone = await join(gateways[1].url, mobile, { rate: MOBILE_SAMPLE_RATE });
    assert.equal((await outcome(phone)).joined, true);
    phone.ws.close();

    // The link asks for a line of 8; the key allows 3 peers: the line holds 3, and says so.
    const three = await keyWith(keys, { maxPeers: 3 });
    const big = await outcome(await join(gateways[0].url, three, { peers: 8 }));
    assert.equal(big.capacity, 3);
    // An unlimited key: a link for 3 makes a line of 3 (the server default is 2), the fourth is refused line_full.
    const open = await keyWith(keys, {});
    const leaf3 = generateLeaf();
    const members: RawClient[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await join(gateways[i % 2].url, open, { leaf: leaf3, peers: 3 });
      assert.equal((await outcome(c)).capacity, 3);
      members.push(c);
    }
    const fourth = await outcome(await join(gateways[1].url, open, { leaf: leaf3, peers: 3 }));
    assert.equal(fourth.code, 'line_full');
    for (const c of members) c.ws.close();

    assert.ok((await total(gateways, 'key_line_limit')) >= 1, 'counted (and once more for each try before the old line’s seats went back)');
    assert.equal(await total(gateways, 'key_mobile_only'), 1);
  });

  it('a gateway killed while holding a key’s seats: they come back within its lease', async (t) => {
    const { gateways, keys } = await deployment();
    const secret = await keyWith(keys, { maxPeers: 2 });
    const held = [await join(gateways[0].url, secret), await join(gateways[0].url, secret)];
    for (const c of held) assert.equal((await outcome(c)).joined, true);
    assert.equal((await outcome(await join(gateways[1].url, secret))).code, 'key_peer_limit', 'the other gateway sees the seats');
    await gateways[0].kill('SIGKILL');
    const killedAt = Date.now();
    const back: RawClient[] = [];
    while (back.length < 2 && Date.now() - killedAt < 10_000) {
      const c = await join(gateways[1].url, secret);
      if ((await outcome(c)).joined) back.push(c);
      else await new Promise((r) => setTimeout(r, 50));
    }
    const ms = Date.now() - killedAt;
    t.diagnostic(`the dead gateway's 2 seats were taken again ${ms} ms after it was killed (lease ${GATEWAY_TTL_MS} ms)`);
    assert.equal(back.length, 2, 'both seats came back');
    assert.ok(ms < GATEWAY_TTL_MS + 2000, `within the lease (${ms} ms)`);
    // And no more than the limit: the seats came back, they did not multiply.
    assert.equal((await outcome(await join(gateways[1].url, secret))).code, 'key_peer_limit');
    for (const c of back) c.ws.close();
  });
});
