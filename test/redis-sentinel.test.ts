/**
 * Issue 15 item 1: Redis Sentinel for real. A primary, two replicas and three Sentinels
 * (redis-server processes, test/helpers/redis-ha.ts); two gateways, a relay and keys-admin as
 * processes on REDIS_SENTINELS. The primary is killed in the middle of a call: the promises of
 * test/helpers/failover-call.ts hold (audio back within 5 s, no bad frame, revocations hold,
 * readiness 503 then 200 by itself, key data kept).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HaDeployment, callThroughFailover } from './helpers/failover-call.js';
import { ServiceProcess, startGateway, startKeysAdmin, startRelay } from './helpers/processes.js';
import { SentinelSet, requireRedisServer, startSentinelSet } from './helpers/redis-ha.js';

const skip = requireRedisServer();

describe('Redis Sentinel: the primary killed mid-call', { skip }, () => {
  let redis: SentinelSet;
  let processes: ServiceProcess[] = [];
  let deployment: HaDeployment;

  before(async () => {
    redis = await startSentinelSet();
    const env = {
      REDIS_SENTINELS: redis.sentinels.join(','),
      REDIS_SENTINEL_MASTER: redis.masterName,
      REDIS_PREFIX: `t${process.pid}:`,
      ADMIN_TOKEN: 'sentinel-failover-admin-token-0123',
    };
    const relay = await startRelay(env);
    const gateways = await Promise.all([startGateway(env), startGateway(env)]);
    const admin = await startKeysAdmin(env);
    processes = [relay, ...gateways, admin];
    deployment = { gateways, admin, adminToken: env.ADMIN_TOKEN };
  });

  after(async () => {
    await Promise.all(processes.map((p) => p.kill('SIGKILL')));
    await redis?.stop();
  });

  it('audio resumes within 5 s, revocations hold on every gateway, readiness recovers, keys survive', async (t) => {
    const primary = redis.primary.address;
    const outcome = await callThroughFailover(deployment, t, { fail: () => redis.primary.kill() });
    const promoted = await redis.currentPrimary();
    assert.notEqual(promoted, primary, 'the Sentinels promoted a replica');
    assert.ok(redis.replicas.some((r) => r.address === promoted));
    t.diagnostic(`SENTINEL failover: audio gap ${outcome.gaps.map((g) => g.toFixed(0)).join(' / ')} ms; ${primary} -> ${promoted}`);
  });
});
