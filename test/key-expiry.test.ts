/**
 * Issue 11 item 2: a key that expires while a call is open stops working at its expiry on every
 * gateway (sockets closed with key_expired, 4403), as revocation does; a moved expiry moves the
 * close; a new join with an expired key is refused. On the embedded backend and on a real Redis,
 * with the call's peers on two gateways; and through the keys admin API and CLI command.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { metricValue, startEmbedded } from './helpers/embedded.js';
import { RawClient, newLink, rawJoin, sameLineVia, waitFor } from './helpers/peers.js';
import { runCli } from './helpers/processes.js';
import { redisForFile } from './helpers/redis.js';
import { BackendKind, TwoGateways, startTwoGateways } from './helpers/two-gateways.js';

/** Sockets closed by the expiry must close this soon after it (the promise for revocation, too). */
const CLOSE_BOUND_MS = 1000;

/** The promise's value, or a failure naming `what` once `ms` have passed (not a suite timeout). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** A call on one line with one peer on each gateway, both joined; resolves with when each closed. */
async function callOnBothGateways(deployment: TwoGateways, apiKey: string) {
  const link = newLink(deployment.urls[0], apiKey);
  const peers = [await rawJoin(link), await rawJoin(sameLineVia(link, deployment.urls[1]))];
  await waitFor(() => peers.every((p) => p.messages.some((m) => m.type === 'joined')), 5000, 'both peers joined');
  const closedAt = peers.map((p) => p.closed.then((c) => ({ ...c, at: Date.now() })));
  return { link, peers, closedAt };
}

async function joinOutcome(client: RawClient): Promise<string> {
  await waitFor(() => client.messages.length > 0, 5000, 'an answer to the join');
  return String(client.messages[0].type === 'error' ? client.messages[0].code : client.messages[0].type);
}

function suite(name: string, kind: () => BackendKind, skip?: string) {
  describe(`key expiry on open calls, 2 gateways (${name})`, { skip, timeout: 60_000 }, () => {
    let deployment: TwoGateways;
    before(async () => {
      deployment = await startTwoGateways(kind());
    });
    after(async () => deployment?.stop());

    it('a key expiring during a call: both gateways close its sockets with key_expired at the expiry; a new join is refused', async (t) => {
      // Seconds ahead: the call must be up before it (joins take milliseconds; the margin is for a busy machine).
      const expiresAt = Date.now() + 5000;
      const { secret } = await deployment.keys.create({ name: 'expires soon', expiresAt }, 'test');
      const { link, peers, closedAt } = await callOnBothGateways(deployment, secret);
      assert.ok(Date.now() < expiresAt, 'the call was up before the expiry');
      const closes = await within(Promise.all(closedAt), expiresAt - Date.now() + 3000, 'the sockets closed at the expiry');
      for (const [i, c] of closes.entries()) {
        t.diagnostic(`peer on gateway ${i}: closed ${c.at - expiresAt} ms after the expiry`);
        assert.deepEqual([c.code, c.reason], [4403, 'key_expired']);
        assert.ok(c.at >= expiresAt - 50, 'not before the expiry');
        assert.ok(c.at - expiresAt <= CLOSE_BOUND_MS, `within ${CLOSE_BOUND_MS} ms of the expiry`);
        assert.equal(peers[i].messages.at(-1)?.code, 'key_expired', 'told why in words first');
      }
      let expired = 0;
      for (const g of [0, 1] as const) expired += metricValue(await deployment.metrics(g), 'studioline_gateway_refusals_total', { code: 'key_expired' });
      assert.equal(expired, 2);
      for (const url of deployment.urls) {
        const late = await rawJoin(sameLineVia(link, url));
        assert.equal(await joinOutcome(late), 'unauthorized', 'a new join with the expired key is refused');
        assert.equal((await late.closed).code, 4401);
      }
    });

    it('an expiry moved earlier closes the calls then; one moved later keeps them open; one moved to the past closes them at once', async () => {
      const inAMinute = Date.now() + 60_000;
      const earlier = await deployment.keys.create({ name: 'moved earlier', expiresAt: inAMinute }, 'test');
      const later = await deployment.keys.create({ name: 'moved later', expiresAt: inAMinute }, 'test');
      const past = await deployment.keys.create({ name: 'moved to the past' }, 'test');
      const calls = await Promise.all([earlier, later, past].map((k) => callOnBothGateways(deployment, k.secret)));
      const newExpiry = Date.now() + 2000;
      await deployment.keys.setExpiry(earlier.key.id, newExpiry, 'test');
      // Moved to the same near time, then later again: the gateways' timers for it must not close it
      // (when a timer fires, the key is read again, so this holds however late the broadcasts are).
      await deployment.keys.setExpiry(later.key.id, newExpiry, 'test');
      await deployment.keys.setExpiry(later.key.id, inAMinute + 60_000, 'test');
      const pastSetAt = Date.now();
      await deployment.keys.setExpiry(past.key.id, pastSetAt - 1000, 'test');
      for (const c of await within(Promise.all(calls[2].closedAt), 3000, 'the sockets of the key expired now closed')) {
        assert.deepEqual([c.code, c.reason], [4403, 'key_expired']);
        assert.ok(c.at - pastSetAt <= CLOSE_BOUND_MS, 'closed at once');
      }
      for (const c of await within(Promise.all(calls[0].closedAt), newExpiry - Date.now() + 3000, 'the sockets closed at the new expiry')) {
        assert.deepEqual([c.code, c.reason], [4403, 'key_expired']);
        assert.ok(c.at >= newExpiry - 50 && c.at - newExpiry <= CLOSE_BOUND_MS, `closed at the new expiry (${c.at - newExpiry} ms after it)`);
      }
      // Past the time the other key was moved to and away from: its call is still up.
      await new Promise((r) => setTimeout(r, Math.max(0, newExpiry + CLOSE_BOUND_MS - Date.now())));
      for (const p of calls[1].peers) assert.equal(p.ws.readyState, p.ws.OPEN, 'the key whose expiry moved later still works');
      for (const p of calls[1].peers) p.ws.close();
    });
  });
}

suite('embedded backend', () => 'memory');

const redis = redisForFile();
suite('Redis', () => ({ redisUrl: redis.get().url, prefix: redis.get().prefix() }), redis.skip);

describe('key expiry through the keys admin API and CLI', { timeout: 60_000 }, () => {
  it('`studioline keys expire ID --expires never` lifts the expiry; a time past ends the key’s calls at once', async () => {
    const server = await startEmbedded();
    try {
      const adminEnv = { STUDIOLINE_ADMIN_URL: server.adminUrl, STUDIOLINE_ADMIN_TOKEN: server.adminToken };
      const created = await fetch(`${server.adminUrl}/v1/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'cli expiry', expiresAt: new Date(Date.now() + 60_000).toISOString() }),
      });
      const { key, secret } = (await created.json()) as { key: { id: string }; secret: string };
      const peer = await rawJoin(newLink(server.url, secret));
      await waitFor(() => peer.messages.some((m) => m.type === 'joined'), 5000, 'joined');
      const never = await runCli(['keys', 'expire', key.id, '--expires', 'never'], adminEnv);
      assert.equal(never.code, 0, never.stderr);
      assert.match(never.stdout, /never expires/);
      const shown = await fetch(`${server.adminUrl}/v1/keys/${key.id}`, { headers: { authorization: `Bearer ${server.adminToken}` } });
      const view = ((await shown.json()) as { key: { expiresAt?: string; status: string } }).key;
      assert.deepEqual([view.expiresAt, view.status], [undefined, 'active'], 'the key no longer expires');
      assert.equal(peer.ws.readyState, peer.ws.OPEN);
      const now = await runCli(['keys', 'expire', key.id, '--expires', new Date(Date.now() - 1000).toISOString()], adminEnv);
      assert.equal(now.code, 0, now.stderr);
      const closed = await within(peer.closed, 3000, 'the socket closed by the expiry in the past');
      assert.deepEqual([closed.code, closed.reason], [4403, 'key_expired']);
      const bad = await fetch(`${server.adminUrl}/v1/keys/${key.id}/expiry`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ expiresAt: 'tomorrow-ish' }),
      });
      assert.equal(bad.status, 400);
    } finally {
      await server.stop();
    }
  });
});
