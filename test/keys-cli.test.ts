/**
 * `studioline keys` against the keys admin API: create (secret shown once), list, rotate (the old
 * secret stops working and its sockets close), revoke, audit; and the admin API's refusals.
 */
import assert from 'node:assert/strict';
import { AddressInfo, createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Embedded, metricValue, startEmbedded } from './helpers/embedded.js';
import { newLink, rawJoin, waitFor } from './helpers/peers.js';
import { runCli } from './helpers/processes.js';

/** A port nothing listens on (it was free a moment ago). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

describe('studioline keys', () => {
  let server: Embedded;
  let cli: (...args: string[]) => Promise<{ code: number | null; stdout: string; stderr: string }>;

  before(async () => {
    server = await startEmbedded();
    cli = (...args) => runCli(['keys', ...args, '--admin-url', server.adminUrl], { STUDIOLINE_ADMIN_TOKEN: server.adminToken, HOME: '/nonexistent' });
  });
  after(() => server.stop());

  it('creates a key whose secret works at once, lists it without the secret, rotates and revokes it', async () => {
    const created = await cli('create', '--name', 'studio A', '--json');
    assert.equal(created.code, 0, created.stderr);
    const { key, secret } = JSON.parse(created.stdout);
    assert.match(secret, /^[a-zA-Z]{72}$/);
    assert.equal(key.prefix, secret.slice(0, 4));

    const list = await cli('list');
    assert.equal(list.code, 0);
    assert.match(list.stdout, new RegExp(`${key.id}\\s+${key.prefix}\\s+active`));
    assert.ok(!list.stdout.includes(secret), 'list never shows the secret');

    const peer = await rawJoin(newLink(server.url, secret));
    await waitFor(() => peer.messages.find((m) => m.type === 'joined'), 2000, 'joined with the new key');

    const rotated = await cli('rotate', key.id, '--json');
    assert.equal(rotated.code, 0, rotated.stderr);
    const newSecret = JSON.parse(rotated.stdout).secret;
    assert.notEqual(newSecret, secret);
    assert.equal((await peer.closed).code, 4403, 'sockets of the old secret are closed');
    const old = await rawJoin(newLink(server.url, secret));
    assert.equal((await old.closed).code, 4401, 'the old secret is unknown now');
    const fresh = await rawJoin(newLink(server.url, newSecret));
    await waitFor(() => fresh.messages.find((m) => m.type === 'joined'), 2000, 'joined with the rotated key');

    const revoked = await cli('revoke', key.id);
    assert.equal(revoked.code, 0);
    assert.match(revoked.stdout, /Revoked/);
    assert.equal((await fresh.closed).code, 4403);
    assert.match((await cli('list')).stdout, new RegExp(`${key.id}\\s+\\S+\\s+revoked`));

    const audit = JSON.parse((await cli('audit')).stdout);
    assert.deepEqual(audit.map((e: { action: string }) => e.action), ['revoke', 'rotate', 'create']);
    assert.ok(!server.logs().includes(secret) && !server.logs().includes(newSecret), 'secrets never reach the log');
  });

  it('refuses a wrong admin token, an unknown key id and a bad request with clear messages', async () => {
    const wrong = await runCli(['keys', 'list', '--admin-url', server.adminUrl, '--token', 'wrong-token-wrong-token'], { HOME: '/nonexistent' });
    assert.equal(wrong.code, 3, 'exit 3: the server refused');
    assert.match(wrong.stderr, /401 missing or wrong admin bearer token/);
    const unknown = await cli('revoke', 'key_doesnotexist');
    assert.equal(unknown.code, 3);
    assert.match(unknown.stderr, /404 no API key with id key_doesnotexist/);
    const past = await cli('create', '--name', 'x', '--expires', '2001-01-01T00:00:00Z');
    assert.equal(past.code, 3);
    assert.match(past.stderr, /expiresAt is in the past/);
  });

  it('finds the admin API from ADMIN_PORT when no URL is given, and says so when nothing answers there', async () => {
    const port = new URL(server.adminUrl).port;
    const listed = await runCli(['keys', 'list'], { STUDIOLINE_ADMIN_TOKEN: server.adminToken, ADMIN_PORT: port, HOME: '/nonexistent' });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^ID\s+PREFIX\s+STATUS/);
    const free = await freePort();
    const closed = await runCli(['keys', 'list'], { STUDIOLINE_ADMIN_TOKEN: server.adminToken, ADMIN_PORT: String(free), HOME: '/nonexistent' });
    assert.equal(closed.code, 4, 'exit 4: unreachable, not 2 (usage)');
    assert.match(closed.stderr, new RegExp(`cannot reach the keys admin API at http://127\\.0\\.0\\.1:${free}: ECONNREFUSED`));
  });
});

/**
 * Issue 11 item 4: the admin token is checked before the body is read. Before, an unauthenticated
 * 20 KB POST got 503 and an error log line, and bad JSON without a token got 400.
 */
describe('keys admin API refusals', () => {
  let server: Embedded;
  before(async () => {
    server = await startEmbedded();
  });
  after(() => server.stop());

  const post = (body: string, token?: string) =>
    fetch(`${server.adminUrl}/v1/keys`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body });

  it('answers 401 to a request without the token whatever its body, and closes the connection', async () => {
    for (const body of ['x'.repeat(20 * 1024), '{not json', JSON.stringify({ name: 'n' })]) {
      const res = await post(body);
      assert.equal(res.status, 401, `${body.slice(0, 10)}...: ${res.status}`);
      assert.equal((await res.json()).error, 'unauthorized');
      assert.equal(res.headers.get('connection'), 'close');
    }
    const wrongToken = await post('{not json', 'wrong-token-wrong-token');
    assert.equal(wrongToken.status, 401);
  });

  it('answers 413 to an administrator\'s body above 16 KB and 400 to bad JSON', async () => {
    const big = await post(JSON.stringify({ name: 'x'.repeat(20 * 1024) }), server.adminToken);
    assert.equal(big.status, 413);
    assert.equal((await big.json()).error, 'message_too_big');
    const bad = await post('{not json', server.adminToken);
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error, 'bad_request');
  });

  it('logs none of these refusals at error level, and counts them', async () => {
    await post('x'.repeat(20 * 1024));
    await post(JSON.stringify({ name: 'x'.repeat(20 * 1024) }), server.adminToken);
    assert.doesNotMatch(server.logs(), /"level":50/, 'no error-level log line');
    const metrics = await server.metrics();
    assert.ok(metricValue(metrics, 'studioline_keys_admin_requests_refused_total', { reason: 'unauthorized' }) >= 4);
    assert.ok(metricValue(metrics, 'studioline_keys_admin_requests_refused_total', { reason: 'too_large' }) >= 2);
  });
});
