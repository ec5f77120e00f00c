import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '@studioline/server-kit';
import { sipBridgeConfigFromEnv } from '../src/config.js';

const LINK = 'https://line.example/#apikey=' + 'a'.repeat(72) + '&leaf_' + 'A'.repeat(43);
const GOOD = JSON.stringify({ phones: { '1001': { password: 'phone-secret-1001' } }, lines: { '500': { link: LINK } } });

function load(env: Record<string, string>, file = GOOD) {
  return sipBridgeConfigFromEnv({ SIP_DIRECTORY_FILE: '/dir.json', ...env }, () => file);
}

function refuses(fn: () => unknown, why: RegExp, secrets: string[] = []): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof ConfigError, e.message);
    assert.match(e.message, why);
    for (const s of secrets) assert.ok(!e.message.includes(s), `the error does not echo a secret: ${e.message}`);
    return true;
  });
}

describe('sip-bridge configuration', () => {
  it('reads the directory and the defaults', () => {
    const c = load({});
    assert.equal(c.sipPort, 5060);
    assert.equal(c.publicAddress, '127.0.0.1');
    assert.equal(c.directory.phones.get('1001')?.password, 'phone-secret-1001');
    assert.equal(c.directory.lines.get('500')?.link.origin, 'https://line.example');
  });

  it('refuses a bad setting with what to do, never echoing a password or a link', () => {
    refuses(() => sipBridgeConfigFromEnv({}), /SIP_DIRECTORY_FILE is required/);
    refuses(() => load({ SIP_HOST: '0.0.0.0' }), /set SIP_PUBLIC_ADDRESS/);
    refuses(() => load({ RTP_PORT_MIN: '20000', RTP_PORT_MAX: '20009' }), /holds 10 ports, fewer than SIP_MAX_CALLS 50/);
    refuses(() => load({}, '{"phones": {"1001": {"password": "short"}}}'), /phone "1001" needs a "password" of at least 12/, ['short']);
    refuses(() => load({}, JSON.stringify({ phones: { '1001': { password: 'phone-secret-1001' } }, lines: { '500': { link: 'https://x/#leaf_nope' } } })), /line "500" has an unusable link/, ['leaf_nope']);
    refuses(() => load({}, JSON.stringify({ phones: { '500': { password: 'phone-secret-1001' } }, lines: { '500': { link: LINK } } })), /both a phone and a line/, [LINK]);
    refuses(() => load({}, '{"phones": {"a b": {"password": "phone-secret-1001"}}}'), /"a b" is not a valid name/);
    refuses(() => load({}, '{"phones": {}, "extensions": {}}'), /unknown field "extensions"/);
    refuses(() => load({}, 'not json'), /is not JSON/);
  });

  it('with Redis (keys-admin\'s extensions), a directory of lines alone will do; without it, it needs phones', () => {
    const linesOnly = JSON.stringify({ lines: { '500': { link: LINK } } });
    const c = load({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PREFIX: 'calls:' }, linesOnly);
    assert.deepEqual(c.redis, { url: 'redis://127.0.0.1:6379', prefix: 'calls:' });
    assert.equal(c.directory.phones.size, 0);
    refuses(() => load({}, linesOnly), /no phones and no Redis is set \(REDIS_URL\)/);
    assert.deepEqual(load({ REDIS_SENTINELS: 'a:26379,b:26379' }, linesOnly).redis, { url: 'redis://', sentinels: { nodes: ['a:26379', 'b:26379'], masterName: 'mymaster' }, prefix: 'studioline:' });
    assert.equal(load({ REDIS_CLUSTER_NODES: 'a:7000' }, linesOnly).redis?.prefix, '{studioline}:', 'a Cluster needs a hash tag');
    refuses(() => load({}, JSON.stringify({ phones: { '1001': { password: 'phone-secret-1001', line: 'a b' } } })), /phone "1001" has a "line" that is not a line number/);
  });
});
