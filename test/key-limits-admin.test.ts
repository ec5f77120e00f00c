/**
 * Issue 13 item 4, how an operator sets a key's limits and what a caller then meets: through the
 * keys admin REST API, the `studioline keys` CLI and a labelled Kubernetes Secret's annotations
 * (the Secret mirror, against the stand-in API server). Each is enforced at the next join, with the
 * limit's close code and words; bad limits are refused with a message naming the field.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Studioline, defaultWebRoot } from '@studioline/cli';
import { GATEWAY_DEFAULTS } from '@studioline/gateway';
import { KeysAdminService } from '@studioline/keys-admin';
import { COMPACT_LAYER_ONLY, ERRORS, MOBILE_SAMPLE_RATE } from '@studioline/protocol';
import { RELAY_DEFAULTS } from '@studioline/relay';
import { Backend, createLogger, createMemoryBackend, generateApiKey, hashApiKey } from '@studioline/server-kit';
import { KubeApiStandIn } from './helpers/kube-api-standin.js';
import { RawClient, newLink, rawJoin, waitFor } from './helpers/peers.js';
import { runCli } from './helpers/processes.js';

const ADMIN_TOKEN = 'key-limits-admin-token-' + 'x'.repeat(8);

async function outcome(c: RawClient): Promise<{ joined: boolean; code?: string; closeCode?: number; message?: string }> {
  const answer = await waitFor(() => c.messages.find((m) => m.type === 'joined' || m.type === 'error'), 10_000, 'the join answered');
  if (answer.type === 'joined') return { joined: true };
  return { joined: false, code: answer.code as string, message: answer.message as string, closeCode: (await c.closed).code };
}

describe('setting a key’s limits: REST, CLI, Secret', () => {
  let backend: Backend;
  let app: Studioline;
  let mirror: KeysAdminService;
  let api: KubeApiStandIn;
  let url: string;
  let adminUrl: string;
  const logs = new PassThrough().resume();

  const rest = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(adminUrl + path, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const cli = (...args: string[]) => runCli(['keys', ...args, '--admin-url', adminUrl], { STUDIOLINE_ADMIN_TOKEN: ADMIN_TOKEN, HOME: '/nonexistent' });
  const join = (secret: string, rate?: number) => rawJoin(newLink(url, secret), { rate, layers: rate === MOBILE_SAMPLE_RATE ? COMPACT_LAYER_ONLY : undefined });

  before(async () => {
    backend = createMemoryBackend();
    const logger = createLogger('studioline', { destination: logs });
    app = new Studioline({
      roles: ['gateway', 'relay', 'keys-admin'],
      backend,
      logger,
      gateway: { ...GATEWAY_DEFAULTS, port: 0, staticKeyHashes: [hashApiKey(generateApiKey())], drainDelayMs: 0, webRoot: defaultWebRoot() },
      relay: RELAY_DEFAULTS,
      keysAdmin: { host: '127.0.0.1', port: 0, adminToken: ADMIN_TOKEN },
    });
    await app.start();
    url = app.gateway!.url;
    adminUrl = app.keysAdmin!.url;
    // The Secret mirror on the same store (as keys-admin runs it with SECRET_SYNC=true).
    api = new KubeApiStandIn('calls');
    const kubeConfig = await api.startWithKubeConfig();
    mirror = KeysAdminService.create(
      { host: '127.0.0.1', port: 0, adminToken: ADMIN_TOKEN, secretSync: { namespace: 'calls', labelSelector: 'studioline.io/api-key', restartDelayMs: 200 } },
      { backend, logger, kubeConfig },
    );
    await mirror.start();
    await mirror.secretsSynced;
  });
  after(async () => {
    await mirror?.destroy();
    await api?.stop();
    await app?.destroy();
  });

  it('REST: limits on create and on their own endpoint; bad limits are a 400 naming the field', async () => {
    const created = await rest('POST', '/v1/keys', { name: 'rest', limits: { maxPeers: 5, maxLines: 2, maxLayer: 'compact' } });
    assert.equal(created.status, 201);
    assert.deepEqual(created.body.key.limits, { maxPeers: 5, maxLines: 2, maxLayer: 'compact' });
    const { id } = created.body.key;
    for (const [body, words] of [
      [{ maxPeers: 0 }, /maxPeers must be a whole number/],
      [{ maxLines: 'lots' }, /maxLines must be a whole number/],
      [{ mobileOnly: 'yes' }, /mobileOnly must be true or false/],
      [{ maxLayer: 'hd' }, /maxLayer must be one of full, compact/],
      [{ speed: 3 }, /unknown limit speed/],
    ] as const) {
      const refused = await rest('POST', `/v1/keys/${id}/limits`, body);
      assert.equal(refused.status, 400, JSON.stringify(body));
      assert.match(refused.body.message, words);
    }
    assert.equal((await rest('POST', '/v1/keys', { name: 'bad', limits: { maxPeers: -1 } })).status, 400);

    // Mobile only, set on a key in use: the next full-rate join is refused, a mobile one gets in.
    const secret = created.body.secret as string;
    // maxLayer compact: the key's peers may use the compact layer only, so a full-rate join is refused.
    assert.equal((await outcome(await join(secret))).code, 'key_mobile_only');
    assert.equal((await rest('POST', `/v1/keys/${id}/limits`, {})).status, 200);
    const before = await join(secret);
    assert.equal((await outcome(before)).joined, true);
    const set = await rest('POST', `/v1/keys/${id}/limits`, { mobileOnly: true });
    assert.equal(set.status, 200);
    assert.deepEqual(set.body.key.limits, { mobileOnly: true }, 'the limits are replaced as a whole');
    const full = await outcome(await join(secret));
    assert.deepEqual([full.code, full.closeCode, full.message], ['key_mobile_only', 4403, ERRORS.key_mobile_only.message]);
    const phone = await join(secret, MOBILE_SAMPLE_RATE);
    assert.equal((await outcome(phone)).joined, true);
    assert.equal(before.ws.readyState, before.ws.OPEN, 'the call already open stays');
    for (const c of [before, phone]) c.ws.close();
    const audit = await rest('GET', '/v1/audit');
    assert.ok(audit.body.entries.some((e: { action: string; keyId: string }) => e.action === 'limits' && e.keyId === id), 'audited');
  });

  it('CLI: `keys create --max-peers`, `keys list` shows it, `keys limits` lifts it; a bad value is named', async () => {
    const created = await cli('create', '--name', 'cli', '--max-peers', '1', '--json');
    assert.equal(created.code, 0, created.stderr);
    const { key, secret } = JSON.parse(created.stdout);
    assert.deepEqual(key.limits, { maxPeers: 1 });
    assert.match((await cli('list')).stdout, new RegExp(`${key.id}.*\\[peers<=1\\]`));
    const first = await join(secret);
    assert.equal((await outcome(first)).joined, true);
    const second = await outcome(await join(secret));
    assert.deepEqual([second.code, second.closeCode, second.message], ['key_peer_limit', 4429, ERRORS.key_peer_limit.message]);
    const lifted = await cli('limits', key.id);
    assert.equal(lifted.code, 0, lifted.stderr);
    assert.match(lifted.stdout, /limits: -/);
    const third = await join(secret);
    assert.equal((await outcome(third)).joined, true, 'no limit any more');
    for (const c of [first, third]) c.ws.close();

    // The host's link asks for the line's size.
    const link = await runCli(['link', url, '--apikey', secret, '--peers', '8'], { HOME: '/nonexistent' });
    assert.equal(link.code, 0, link.stderr);
    assert.match(link.stdout, /&peers=8\n$/);
    const tooSmall = await runCli(['link', url, '--apikey', secret, '--peers', '1'], { HOME: '/nonexistent' });
    assert.equal(tooSmall.code, 2);
    assert.match(tooSmall.stderr, /--peers must be a whole number from 2 to 64/);

    const bad = await cli('create', '--name', 'bad', '--max-layer', 'hd');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--max-layer must be one of full, compact/);
  });

  it('Secret: the annotations set the limits, a change moves them, unreadable limits are not mirrored', async () => {
    const secret = generateApiKey();
    api.apply('limited', secret, undefined, { 'studioline.io/max-peers': '1', 'studioline.io/mobile-only': 'true' });
    const record = async () => backend.keys.findByHash(hashApiKey(secret));
    for (let i = 0; i < 100 && !(await record())?.limits; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual((await record())?.limits, { maxPeers: 1, mobileOnly: true });
    const full = await outcome(await join(secret));
    assert.equal(full.code, 'key_mobile_only');
    const phone = await join(secret, MOBILE_SAMPLE_RATE);
    assert.equal((await outcome(phone)).joined, true);
    assert.equal((await outcome(await join(secret, MOBILE_SAMPLE_RATE))).code, 'key_peer_limit');

    // The owner lifts the peer limit in the Secret: the next mobile join gets in.
    api.apply('limited', secret, undefined, { 'studioline.io/mobile-only': 'true' });
    for (let i = 0; i < 100 && (await record())?.limits?.maxPeers !== undefined; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual((await record())?.limits, { mobileOnly: true });
    const second = await join(secret, MOBILE_SAMPLE_RATE);
    assert.equal((await outcome(second)).joined, true);
    for (const c of [phone, second]) c.ws.close();

    // A Secret whose limits cannot be read makes no key (a key never runs without its owner's limits).
    const other = generateApiKey();
    api.apply('typo', other, undefined, { 'studioline.io/max-lines': 'many' });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await backend.keys.findByHash(hashApiKey(other)), undefined);
    assert.equal((await outcome(await join(other))).code, 'unauthorized');
  });
});
