/**
 * Issue 15 item 2: Redis Cluster with sharded pub/sub. Three primaries and three replicas
 * (redis-server processes, `redis-cli --cluster create`: test/helpers/redis-ha.ts); two gateways,
 * relays and keys-admin as processes on REDIS_CLUSTER_NODES.
 *   - audio channels are shard channels (SSUBSCRIBE/SPUBLISH), each on the primary of its slot
 *     only, and none is a classic channel;
 *   - the slot of the relay's channel moves to another primary during a call (resharding): at
 *     most one second of audio is lost;
 *   - the primary that serves both the key data and the relay's channel is killed mid-call: the
 *     promises of test/helpers/failover-call.ts hold, as on Sentinel.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { PeerSummary } from '@studioline/client';
import { CallLink, deriveLineId, formatCallLink, generateLeaf, parseCallLink } from '@studioline/protocol';
import { RedisKeys, pickRelay } from '@studioline/server-kit';
import { longestSilence } from './helpers/audio.js';
import { HaDeployment, callThroughFailover } from './helpers/failover-call.js';
import { sameLineVia, tonePeer, waitFor } from './helpers/peers.js';
import { ServiceProcess, startGateway, startKeysAdmin, startRelay } from './helpers/processes.js';
import { RedisCluster, RedisNode, requireRedisServer, startCluster } from './helpers/redis-ha.js';

const skip = requireRedisServer();

describe('Redis Cluster: sharded pub/sub, resharding and a primary killed mid-call', { skip }, () => {
  let cluster: RedisCluster;
  let names: RedisKeys;
  let relays: (ServiceProcess & { id: string })[] = [];
  let processes: ServiceProcess[] = [];
  let deployment: HaDeployment;
  /** The relay whose channel shares a primary with the key data: the calls' lines are its own. */
  let owner: ServiceProcess & { id: string };
  /** That primary. */
  let keyPrimary: RedisNode;

  const slotOf = async (name: string) => (await cluster.nodes[0].client().call('CLUSTER', 'KEYSLOT', name)) as number;

  /** A link to a line that `owner` serves (rendezvous over the live relays). */
  const ownedLine = async (url: string, apiKey: string): Promise<CallLink> => {
    for (;;) {
      const link = parseCallLink(formatCallLink(url, apiKey, generateLeaf()));
      if (pickRelay(await deriveLineId(link.leafBytes!), relays.map((r) => r.id)) === owner.id) return link;
    }
  };

  before(async () => {
    cluster = await startCluster();
    const prefix = `{t${randomBytes(4).toString('hex')}}:`;
    names = new RedisKeys(prefix);
    keyPrimary = await cluster.primaryOf(await slotOf(names.apiKeyIds()));
    const env = { REDIS_CLUSTER_NODES: cluster.seeds.join(','), REDIS_PREFIX: prefix, ADMIN_TOKEN: 'cluster-failover-admin-token-0123' };
    // Relays start until one's channel hashes to the key data's primary (a third of them do).
    for (let i = 0; i < 12 && !owner; i++) {
      const relay = await startRelay(env);
      relays.push(relay);
      processes.push(relay);
      if ((await cluster.primaryOf(await slotOf(names.relayChannel(relay.id)))) === keyPrimary) owner = relay;
    }
    assert.ok(owner, 'a relay whose channel lives with the key data');
    const gateways = await Promise.all([startGateway(env), startGateway(env)]);
    const admin = await startKeysAdmin(env);
    processes.push(...gateways, admin);
    deployment = { gateways, admin, adminToken: env.ADMIN_TOKEN };
  });

  after(async () => {
    // REDIS_HA_LOGS=FILE keeps the services' logs of the run (the moves of channels between primaries).
    if (process.env.REDIS_HA_LOGS) writeFileSync(process.env.REDIS_HA_LOGS, processes.map((p) => `==== ${p.role}\n${p.output()}`).join('\n'));
    await Promise.all(processes.map((p) => p.kill('SIGKILL')));
    await cluster?.stop();
  });

  it('audio channels are shard channels, each on its own primary only; the key data is in one slot', async () => {
    const channels = [names.relayChannel(owner.id), ...deployment.gateways.map((g) => names.gatewayChannel(g.id))];
    for (const channel of channels) {
      const home = await cluster.primaryOf(await slotOf(channel));
      for (const node of await cluster.primaries()) {
        const shard = (await node.client().call('PUBSUB', 'SHARDCHANNELS')) as string[];
        assert.equal(shard.includes(channel), node === home, `${channel} is subscribed on ${node === home ? 'its primary' : 'no other primary'}`);
      }
    }
    for (const node of cluster.nodes) {
      const classic = (await node.client().call('PUBSUB', 'CHANNELS')) as string[];
      assert.deepEqual(classic.filter((c) => channels.includes(c)), [], 'no audio channel is a classic (cluster-wide) channel');
    }
    // The key data (presence, per-address counts, keys-admin's keys) lives in the prefix's one slot:
    // the Lua scripts and transactions that span several keys stay on one node.
    const keySlot = await slotOf(names.apiKeyIds());
    let keys = 0;
    for (const node of await cluster.primaries()) keys += (await node.client().dbsize()) as number;
    const inSlot = (await keyPrimary.client().call('CLUSTER', 'COUNTKEYSINSLOT', keySlot)) as number;
    assert.ok(keys > 0, 'the services wrote their registrations');
    assert.equal(inSlot, keys, 'every key of the deployment is in the prefix’s slot');
  });

  it('resharding the relay’s channel slot during a call loses at most one second of audio', async (t) => {
    const { secret } = (await (
      await fetch(`${deployment.admin.url}/v1/keys`, { method: 'POST', headers: { authorization: `Bearer ${deployment.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'resharding' }) })
    ).json()) as { secret: string };
    const [g0, g1] = deployment.gateways;
    const link = await ownedLine(g0.url, secret);
    const arrivals: number[][] = [[], []];
    const call = Promise.all([
      tonePeer(link, 440, 8, { onAudio: (_s, _c, at) => arrivals[0].push(at) }).run(),
      tonePeer(sameLineVia(link, g1.url), 1000, 8, { onAudio: (_s, _c, at) => arrivals[1].push(at) }).run(),
    ]);
    await waitFor(() => arrivals.every((a) => a.length > 150), 10_000, 'audio flowing both ways');
    const slot = await slotOf(names.relayChannel(owner.id));
    const from = await cluster.primaryOf(slot);
    const to = (await cluster.primaries()).find((p) => p !== from)!;
    const movedAt = performance.now();
    await cluster.moveSlot(slot, to);
    t.diagnostic(`slot ${slot} moved from ${from.address} to ${to.address} in ${(performance.now() - movedAt).toFixed(0)} ms`);
    const summaries: PeerSummary[] = await call;
    assert.equal(await cluster.primaryOf(slot), to);
    const shard = (await to.client().call('PUBSUB', 'SHARDCHANNELS')) as string[];
    assert.ok(shard.includes(names.relayChannel(owner.id)), 'the relay subscribed again on the slot’s new primary');
    for (const [i, s] of summaries.entries()) {
      const gap = longestSilence(arrivals[i], movedAt);
      t.diagnostic(`RESHARD: peer ${i}: longest silence after the move ${gap.toFixed(0)} ms, lost ${s.lost} of ${s.received + s.lost} frames`);
      assert.deepEqual([s.decryptFailed, s.reconnects], [0, 0]);
      assert.ok(gap <= 1000, `at most one second of audio lost (longest silence ${gap.toFixed(0)} ms)`);
    }
  });

  it('the primary of the key data and the relay’s channel killed mid-call: audio back within 5 s, revocations hold, readiness recovers, keys survive', async (t) => {
    // The previous test may have moved the relay's slot: kill the primary that serves the key data,
    // and make sure the relay's channel lives there too.
    keyPrimary = await cluster.primaryOf(await slotOf(names.apiKeyIds()));
    const relaySlot = await slotOf(names.relayChannel(owner.id));
    if ((await cluster.primaryOf(relaySlot)) !== keyPrimary) await cluster.moveSlot(relaySlot, keyPrimary);
    const killed = keyPrimary;
    const outcome = await callThroughFailover(deployment, t, {
      link: ownedLine,
      fail: () => killed.kill(),
      // Kubernetes restarts the pod: the node comes back as a replica of its promoted replica, so
      // the shard has a replica again (key writes wait for one: REDIS_WRITE_REPLICAS).
      afterFailover: async () => killed.restart(),
    });
    const promoted = await cluster.primaryOf(await slotOf(names.apiKeyIds()));
    assert.notEqual(promoted, killed, 'a replica took over the key data’s slots');
    t.diagnostic(`CLUSTER failover: audio gap ${outcome.gaps.map((g) => g.toFixed(0)).join(' / ')} ms; ${killed.address} -> ${promoted.address}`);
  });
});
