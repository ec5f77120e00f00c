/**
 * `studioline keys` against the keys admin API: create (secret shown once), list, rotate (the old
 * secret stops working and its sockets close), revoke, audit; and the admin API's refusals.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Embedded, startEmbedded } from './helpers/embedded.js';
import { newLink, rawJoin, waitFor } from './helpers/peers.js';
import { runCli } from './helpers/processes.js';

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
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /401 missing or wrong admin bearer token/);
    const unknown = await cli('revoke', 'key_doesnotexist');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /404 no API key with id key_doesnotexist/);
    const past = await cli('create', '--name', 'x', '--expires', '2001-01-01T00:00:00Z');
    assert.equal(past.code, 2);
    assert.match(past.stderr, /expiresAt is in the past/);
  });
});
