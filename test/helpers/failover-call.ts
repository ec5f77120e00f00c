/**
 * The promises a deployment keeps through a Redis failover (issue 15), as one scenario that the
 * Sentinel and the Cluster suites both run against their own Redis: two gateway processes, a
 * relay, keys-admin, a call between two Node peers on different gateways, and a failure of Redis
 * (`fail`) in the middle of it. Measured and asserted:
 *   - audio resumes: the longest silence each peer hears from the failure on, under 5 s;
 *   - no frame decrypts wrongly, no peer reconnects;
 *   - a key revoked just before the failure and one revoked during it (keys-admin rides out the
 *     outage) are refused on every gateway afterwards, and their open sockets are closed;
 *   - each gateway's /readyz answers 503 while Redis is unreachable and 200 again by itself;
 *   - the keys written through keys-admin are all still there, with their audit entries.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { PeerSummary } from '@studioline/client';
import { CallLink } from '@studioline/protocol';
import { longestSilence } from './audio.js';
import { RawClient, newLink, rawJoin, sameLineVia, tonePeer, waitFor } from './peers.js';
import { ServiceProcess } from './processes.js';

export interface HaDeployment {
  gateways: (ServiceProcess & { url: string; id: string })[];
  admin: ServiceProcess & { url: string };
  adminToken: string;
}

export interface FailoverOutcome {
  /** Each peer's longest silence from the failure on, ms. */
  gaps: number[];
  /** Per gateway: ms from the failure until /readyz answered 503, and until it answered 200 again. */
  readiness: { down: number; back: number }[];
  /** ms from the failure until the revocation issued during it returned. */
  duringRevocationMs: number;
}

export const CALL_SECONDS = 20;

export async function adminCall(d: HaDeployment, method: string, path: string, body?: unknown): Promise<Record<string, any>> {
  const res = await fetch(d.admin.url + path, {
    method,
    headers: { authorization: `Bearer ${d.adminToken}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(30_000),
  });
  const json = (await res.json()) as Record<string, any>;
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Polls a gateway's /readyz until it has answered 503 and then 200 (or the time is up). */
async function watchReadiness(url: string, since: number, timeoutMs: number): Promise<{ down: number; back: number }> {
  let down = NaN;
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    let status = 0;
    try {
      status = (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) })).status;
    } catch {
      /* counted as not ready */
    }
    const at = performance.now() - since;
    if (status !== 200 && Number.isNaN(down)) down = at;
    if (status === 200 && !Number.isNaN(down)) return { down, back: at };
    await new Promise((r) => setTimeout(r, 50));
  }
  return { down, back: NaN };
}

/**
 * Runs the scenario. `link` picks the call's line (e.g. one owned by a given relay); `fail` breaks
 * Redis and resolves at once; `afterFailover` (optional) runs once every gateway is ready again
 * (e.g. restarting the killed node, as Kubernetes would).
 */
export async function callThroughFailover(
  d: HaDeployment,
  t: TestContext,
  options: { link?: (gatewayUrl: string, apiKey: string) => Promise<CallLink>; fail(): Promise<void>; afterFailover?(): Promise<void> },
): Promise<FailoverOutcome> {
  const [g0, g1] = d.gateways;
  const callKey = (await adminCall(d, 'POST', '/v1/keys', { name: 'call through a failover' })) as { key: { id: string }; secret: string };
  const before = (await adminCall(d, 'POST', '/v1/keys', { name: 'revoked just before' })) as { key: { id: string }; secret: string };
  const during = (await adminCall(d, 'POST', '/v1/keys', { name: 'revoked during' })) as { key: { id: string }; secret: string };

  const link = options.link ? await options.link(g0.url, callKey.secret) : newLink(g0.url, callKey.secret);
  const arrivals: number[][] = [[], []];
  const call = Promise.all([
    tonePeer(link, 440, CALL_SECONDS, { onAudio: (_s, _c, at) => arrivals[0].push(at) }).run(),
    tonePeer(sameLineVia(link, g1.url), 1000, CALL_SECONDS, { onAudio: (_s, _c, at) => arrivals[1].push(at) }).run(),
  ]);
  // Sockets of the two keys to revoke, one on each gateway, joined to lines of their own.
  const sockets = async (secret: string) => Promise.all([g0, g1].map(async (g) => rawJoin(newLink(g.url, secret))));
  const beforeSockets = await sockets(before.secret);
  const duringSockets = await sockets(during.secret);
  const joined = (c: RawClient) => c.messages.some((m) => m.type === 'joined');
  await waitFor(() => [...beforeSockets, ...duringSockets].every(joined), 10_000, 'the sockets of the keys to revoke joined');
  await waitFor(() => arrivals.every((a) => a.length > 150), 10_000, 'audio flowing both ways');

  // Revoked just before: once keys-admin has answered, the revocation is on a replica (WAIT).
  await adminCall(d, 'POST', `/v1/keys/${before.key.id}/revoke`);
  const failedAt = performance.now();
  await options.fail();
  const readiness = Promise.all([g0, g1].map((g) => watchReadiness(g.url, failedAt, 30_000)));
  // Revoked during the outage: keys-admin waits for the store to come back, then answers.
  const revokedDuring = adminCall(d, 'POST', `/v1/keys/${during.key.id}/revoke`).then(() => performance.now() - failedAt);
  const ready = await readiness;
  t.diagnostic(`readiness per gateway (ms after the failure): ${ready.map((r) => `503 at ${r.down.toFixed(0)}, 200 at ${r.back.toFixed(0)}`).join('; ')}`);
  await options.afterFailover?.();
  const duringRevocationMs = await revokedDuring;
  t.diagnostic(`the revocation issued during the failover returned ${duringRevocationMs.toFixed(0)} ms after the failure`);
  const summaries: PeerSummary[] = await call;

  const gaps = arrivals.map((a) => longestSilence(a, failedAt));
  for (const [i, s] of summaries.entries()) {
    t.diagnostic(`peer ${i}: longest silence after the failure ${gaps[i].toFixed(0)} ms; received ${s.received}, lost ${s.lost}, decrypt failures ${s.decryptFailed}, reconnects ${s.reconnects}`);
    assert.deepEqual([s.decryptFailed, s.malformed, s.replayed], [0, 0, 0], 'no frame decrypts wrongly');
    assert.equal(s.reconnects, 0, 'the peers stayed connected');
    assert.ok(arrivals[i].filter((at) => at > failedAt).length > 100, 'audio resumed after the failure');
    assert.ok(gaps[i] < 5000, `audio resumed within 5 s (longest silence ${gaps[i].toFixed(0)} ms)`);
  }
  for (const [i, r] of ready.entries()) {
    assert.ok(Number.isFinite(r.down), `gateway ${i} answered 503 while Redis was unreachable`);
    assert.ok(Number.isFinite(r.back), `gateway ${i} became ready again by itself`);
  }

  // Both revocations hold on every gateway: the open sockets were closed, fresh joins are refused.
  for (const c of [...beforeSockets, ...duringSockets]) {
    const closed = await Promise.race([c.closed, new Promise<undefined>((r) => setTimeout(r, 5000))]);
    assert.deepEqual(closed, { code: 4403, reason: 'key_revoked' }, 'the revoked key’s socket was closed');
  }
  for (const key of [before, during]) {
    for (const g of [g0, g1]) {
      const again = await rawJoin(newLink(g.url, key.secret));
      assert.deepEqual(await again.closed, { code: 4403, reason: 'key_revoked' }, `${g.url} refuses the key revoked ${key === before ? 'just before' : 'during'} the failover`);
    }
  }

  // The key data written through keys-admin survived the failover.
  const { keys } = await adminCall(d, 'GET', '/v1/keys');
  const status = (id: string) => keys.find((k: { id: string }) => k.id === id)?.status;
  assert.deepEqual([status(callKey.key.id), status(before.key.id), status(during.key.id)], ['active', 'revoked', 'revoked'], 'every key survived, with its state');
  const { entries } = await adminCall(d, 'GET', '/v1/audit?limit=50');
  for (const id of [before.key.id, during.key.id]) assert.ok(entries.some((e: { action: string; keyId: string }) => e.action === 'revoke' && e.keyId === id), 'the revocation is in the audit log');
  return { gaps, readiness: ready, duringRevocationMs };
}
