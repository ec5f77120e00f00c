/**
 * Issue 4, acceptance 4: keys-admin mirrors labelled Kubernetes Secrets into Redis: create, rotate
 * and revoke within 1 s of the change, and recovery after the watch connection drops. The API
 * server is a named stand-in (helpers/kube-api-standin.ts); Redis is real.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KeysAdminService } from '@studioline/keys-admin';
import { Backend, createLogger, createRedisBackend, generateApiKey, hashApiKey } from '@studioline/server-kit';
import { requireDocker } from './helpers/env.js';
import { KubeApiStandIn } from './helpers/kube-api-standin.js';
import { waitFor } from './helpers/peers.js';
import { TestRedis, startRedis } from './helpers/redis.js';

const skip = requireDocker();

describe('Secret mirror (against a stand-in Kubernetes API)', { skip }, () => {
  let redis: TestRedis;
  let backend: Backend;
  let api: KubeApiStandIn;
  let admin: KeysAdminService;
  const revoked: string[] = [];

  before(async () => {
    redis = await startRedis();
    backend = createRedisBackend({ url: redis.url, prefix: redis.prefix(), logger: createLogger('test', { level: 'silent' }) });
    await backend.waitReady(10_000);
    await backend.bus.subscribe(backend.names.revocations(), (m) => revoked.push(JSON.parse(m.toString()).hash));
    api = new KubeApiStandIn('calls');
    const kubeConfig = await api.startWithKubeConfig();
    api.apply('preexisting', 'P'.repeat(72));
    admin = KeysAdminService.create(
      { host: '127.0.0.1', port: 0, adminToken: 'secret-sync-test-token', secretSync: { namespace: 'calls', labelSelector: 'studioline.io/api-key', restartDelayMs: 200 } },
      { backend, logger: createLogger('keys-admin', { level: 'silent' }), kubeConfig },
    );
    await admin.start();
    await admin.secretsSynced;
  });

  after(async () => {
    await admin?.destroy();
    await api?.stop();
    await backend?.close();
    await redis?.stop();
  });

  const record = (secret: string) => backend.keys.findByHash(hashApiKey(secret));
  const within = async (ms: number, what: string, probe: () => Promise<boolean>) => {
    const start = performance.now();
    let ok = false;
    while (!(ok = await probe()) && performance.now() - start < ms) await new Promise((r) => setTimeout(r, 20));
    assert.ok(ok, `${what} did not happen within ${ms} ms`);
    return performance.now() - start;
  };

  it('mirrors the Secrets that exist at start', async () => {
    const r = await record('P'.repeat(72));
    assert.equal(r?.source, 'k8s:calls/preexisting');
    assert.equal(r?.revokedAt, undefined);
  });

  it('creates, rotates and revokes a key within 1 s of each change', async (t) => {
    const first = generateApiKey();
    api.apply('studio-a', first, undefined, { 'studioline.io/name': 'Studio A' });
    const created = await within(1000, 'create', async () => (await record(first))?.name === 'Studio A');

    const second = generateApiKey();
    api.apply('studio-a', second, undefined, { 'studioline.io/name': 'Studio A' });
    const rotated = await within(1000, 'rotate', async () => (await record(first)) === undefined && (await record(second)) !== undefined);
    await waitFor(() => revoked.includes(hashApiKey(first)), 1000, 'the old secret revoked on every gateway');
    assert.equal((await record(second))?.id, (await backend.keys.list()).find((k) => k.source === 'k8s:calls/studio-a')?.id, 'one key, rotated in place');

    api.delete('studio-a');
    const deleted = await within(1000, 'revoke', async () => (await record(second))?.revokedAt !== undefined);
    // The broadcast follows the store's write (it was read above before it arrived, on a busy run).
    await waitFor(() => revoked.includes(hashApiKey(second)), 1000, 'the revocation broadcast');
    t.diagnostic(`created in ${created.toFixed(0)} ms, rotated in ${rotated.toFixed(0)} ms, revoked in ${deleted.toFixed(0)} ms`);
    const audit = (await backend.keys.audit(10)).map((e) => `${e.action}:${e.actor}`);
    assert.deepEqual(audit.slice(0, 3), ['revoke:k8s-secret-sync', 'rotate:k8s-secret-sync', 'create:k8s-secret-sync']);
  });

  it('a changed expires-at annotation moves the key’s expiry and tells the gateways (they re-read the key)', async () => {
    const changed: string[] = [];
    await backend.bus.subscribe(backend.names.keyChanges(), (m) => changed.push(JSON.parse(m.toString()).hash));
    const secret = generateApiKey();
    api.apply('studio-e', secret, undefined, { 'studioline.io/expires-at': '2031-01-01T00:00:00Z' });
    await within(1000, 'create', async () => (await record(secret)) !== undefined);
    api.apply('studio-e', secret, undefined, { 'studioline.io/expires-at': '2030-01-01T00:00:00Z' });
    await within(1000, 'expiry moved', async () => (await record(secret))?.expiresAt === Date.parse('2030-01-01T00:00:00Z'));
    await waitFor(() => changed.includes(hashApiKey(secret)), 1000, 'the change broadcast to the gateways');
    await backend.bus.unsubscribe(backend.names.keyChanges());
  });

  it('ignores Secrets without the label', async () => {
    const unlabelled = generateApiKey();
    api.apply('unrelated', unlabelled, { app: 'something-else' });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await record(unlabelled), undefined);
  });

  it('recovers after the watch drops: re-lists, mirrors what changed meanwhile, revokes what vanished', async () => {
    const lists = api.requests.list;
    const late = generateApiKey();
    api.dropWatches();
    // Changes while no watch is open: only the re-list can see them.
    api.apply('made-while-down', late);
    api.delete('preexisting', { silently: true });
    await within(3000, 'resync', async () => (await record(late)) !== undefined && (await record('P'.repeat(72)))?.revokedAt !== undefined);
    assert.ok(api.requests.list > lists, 're-listed');
    const fresh = generateApiKey();
    api.apply('after-recovery', fresh);
    await within(1000, 'watching again', async () => (await record(fresh)) !== undefined);
  });
});
