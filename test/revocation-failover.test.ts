/**
 * Issue 11 item 7 (DESIGN §6, §12: "revocations hold" through failovers): a key is revoked through
 * keys-admin's API right after the relay that owns a line is killed, while the line waits to move
 * to the other relay (the CLI's `keys revoke` is this request: test/keys-cli.test.ts). Two gateway
 * processes, two relays, keys-admin, real Redis. The
 * line carries peers of two keys: the revoked key's peers are closed with 4403 key_revoked on both
 * gateways and stay out (they do not reconnect, and fresh joins with the key are refused on every
 * gateway, before and after the move); the other key's peer stays connected and, once the line
 * lives on the new relay, hears a newcomer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PeerError, PeerSummary } from '@studioline/client';
import { CallLink, deriveLineId, formatCallLink, generateLeaf, parseCallLink } from '@studioline/protocol';
import { pickRelay } from '@studioline/server-kit';
import { requireDocker } from './helpers/env.js';
import { metricValue } from './helpers/embedded.js';
import { rawJoin, sameLineVia, tonePeer, waitFor } from './helpers/peers.js';
import { ServiceProcess, startGateway, startKeysAdmin, startRelay } from './helpers/processes.js';
import { TestRedis, startRedis } from './helpers/redis.js';

const skip = requireDocker();

describe('revocation through a relay failover', { skip }, () => {
  let redis: TestRedis;
  let gateways: (ServiceProcess & { url: string; id: string })[] = [];
  let relays: (ServiceProcess & { id: string })[] = [];
  let admin: ServiceProcess & { url: string };
  const adminToken = 'revocation-failover-admin-token-0123';

  const createKey = async (name: string) => {
    const res = await fetch(`${admin.url}/v1/keys`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
    assert.ok(res.ok, `create key: ${res.status}`);
    return ((await res.json()) as { key: { id: string }; secret: string });
  };

  before(async () => {
    redis = await startRedis();
    // Three peers per line: two of the key to revoke, one of a key that stays. A dead relay is
    // noticed after 6 s (default 2 s), so the revocation lands while its line waits to move even
    // on a busy machine.
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: redis.prefix(), ADMIN_TOKEN: adminToken, LINE_CAPACITY: '3', RELAY_TTL_MS: '6000' };
    relays = await Promise.all([startRelay(env), startRelay(env)]);
    gateways = await Promise.all([startGateway(env), startGateway(env)]);
    admin = await startKeysAdmin(env);
  });

  after(async () => {
    await Promise.all([...gateways, ...relays, admin].filter(Boolean).map((p) => p.kill('SIGKILL')));
    await redis?.stop();
  });

  it('the revoked key’s peers are closed on both gateways and stay out; the other key’s peer rides the move', async (t) => {
    const revoked = await createKey('to revoke mid-failover');
    const kept = await createKey('kept');
    // A line owned by the relay that will be killed.
    const owner = relays[0];
    let leaf: string;
    do leaf = generateLeaf();
    while (pickRelay(await deriveLineId(parseCallLink(formatCallLink(gateways[0].url, kept.secret, leaf)).leafBytes!), relays.map((r) => r.id)) !== owner.id);
    const via = (g: number, key: string): CallLink => parseCallLink(formatCallLink(gateways[g].url, key, leaf));

    const keptArrivals: number[] = [];
    const stopKept = new AbortController();
    const keptPeer = tonePeer(via(0, kept.secret), 700, 30, { signal: stopKept.signal, onAudio: (_s, _c, at) => keptArrivals.push(at) }).run();
    const ends: { code?: string; closeCode?: number; at: number; reconnects?: number }[] = [];
    const revokedPeers = [0, 1].map((g) =>
      tonePeer(via(g, revoked.secret), 440 + 560 * g, 12).run().then(
        (s: PeerSummary) => ends.push({ at: performance.now(), reconnects: s.reconnects }),
        (err: PeerError) => ends.push({ code: err.code, closeCode: err.closeCode, at: performance.now() }),
      ),
    );
    await waitFor(() => keptArrivals.length > 100, 10_000, 'audio flowing on the line');

    const rehomes = async () => (await Promise.all(gateways.map(async (g) => metricValue(await (await fetch(`${g.url}/metrics`)).text(), 'studioline_gateway_line_rehomes_total')))).reduce((a, b) => a + b);
    const killedAt = performance.now();
    await owner.kill('SIGKILL');
    const res = await fetch(`${admin.url}/v1/keys/${revoked.key.id}/revoke`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}` } });
    const revokedAt = performance.now();
    assert.ok(res.ok, `revoke: ${res.status}`);
    const movedBefore = await rehomes();
    t.diagnostic(`revoked ${(revokedAt - killedAt).toFixed(0)} ms after the relay kill; lines moved by then: ${movedBefore}`);
    assert.equal(movedBefore, 0, 'revoked while the line waits to move off the dead relay');
    await Promise.all(revokedPeers);
    t.diagnostic(`the peers ended ${ends.map((e) => (e.at - revokedAt).toFixed(0)).join(' and ')} ms after the revocation returned`);
    for (const e of ends) {
      assert.deepEqual([e.code, e.closeCode], ['key_revoked', 4403], 'closed with the revoked code, for good (no reconnect)');
      assert.ok(e.at - revokedAt < 1000, 'within 1 s');
    }

    // Refused on every gateway while the line moves, and after it moved.
    const refusedEverywhere = async () => {
      for (const g of [0, 1]) {
        const again = await rawJoin(via(g, revoked.secret));
        assert.deepEqual(await again.closed, { code: 4403, reason: 'key_revoked' }, `gateway ${g} refuses the revoked key`);
      }
    };
    await refusedEverywhere();
    for (let i = 0; i < 100 && (await rehomes()) < 1; i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok((await rehomes()) >= 1, 'the line moved to the surviving relay');
    await refusedEverywhere();

    // The kept key's peer is still on the line, now on the other relay: a newcomer is heard.
    const beforeNewcomer = keptArrivals.length;
    const newcomer = await tonePeer(sameLineVia(via(0, kept.secret), gateways[1].url), 1000, 3).run();
    stopKept.abort();
    const keptSummary = await keptPeer;
    t.diagnostic(`the kept peer heard ${keptArrivals.length - beforeNewcomer} frames from the newcomer; the newcomer heard ${newcomer.received}`);
    assert.equal(keptSummary.reconnects, 0, 'the kept key’s peer was never closed');
    assert.ok(keptArrivals.length - beforeNewcomer >= 250, 'and hears the newcomer on the new relay');
    assert.ok(newcomer.received >= 250, 'who hears it');
    assert.deepEqual([keptSummary.decryptFailed, newcomer.decryptFailed], [0, 0]);
  });
});
