/**
 * Issue 10 item 1 and issue 11 item 6: Origin is compared with the service's own public origin and
 * the allowlist, never with the Host a client sends.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OriginPolicy } from '../src/origin-policy.js';

describe('origin policy', () => {
  const direct = { localAddress: '127.0.0.1', localPort: 7777 };

  it('no Origin (not a browser) passes; a bad or opaque Origin does not', () => {
    const policy = new OriginPolicy([], undefined, '127.0.0.1');
    assert.equal(policy.allows({ ...direct }), true);
    assert.equal(policy.allows({ ...direct, origin: 'null' }), false);
    assert.equal(policy.allows({ ...direct, origin: 'file:///x' }), false);
  });

  it('embedded default: the address it listens on, and the loopback names at its port', () => {
    const policy = new OriginPolicy([], undefined, '127.0.0.1');
    for (const origin of ['http://127.0.0.1:7777', 'http://localhost:7777', 'http://[::1]:7777']) assert.equal(policy.allows({ ...direct, origin }), true, origin);
    for (const origin of ['http://127.0.0.1:7778', 'https://evil.example', 'http://evil.example:7777']) assert.equal(policy.allows({ ...direct, origin }), false, origin);
    const lan = new OriginPolicy([], undefined, '0.0.0.0');
    assert.equal(lan.allows({ localAddress: '::ffff:192.168.1.5', localPort: 7777, origin: 'http://192.168.1.5:7777' }), true, 'the address a LAN browser connected to');
    assert.equal(lan.allows({ localAddress: '::ffff:192.168.1.5', localPort: 7777, origin: 'http://localhost:7777' }), true);
    const specific = new OriginPolicy([], undefined, '192.168.1.5');
    assert.equal(specific.allows({ localAddress: '192.168.1.5', localPort: 7777, origin: 'http://localhost:7777' }), false, 'not a loopback listener');
  });

  it('DNS rebinding: an attacker name pointing at the server is refused even though Origin and Host agree', () => {
    const policy = new OriginPolicy([], undefined, '127.0.0.1');
    // The forwarded Host is only passed for a trusted proxy: a direct client's Host is never looked at.
    assert.equal(policy.allows({ ...direct, origin: 'http://rebind.evil.example:7777' }), false);
  });

  it('through a trusted proxy without PUBLIC_URL: the origin the proxy forwards (proto and Host)', () => {
    const policy = new OriginPolicy([], undefined, '0.0.0.0');
    const via = (host: string, proto?: string) => ({ localAddress: '172.18.0.3', localPort: 7777, forwarded: { host, proto } });
    assert.equal(policy.allows({ ...via('127.0.0.1:8443', 'https'), origin: 'https://127.0.0.1:8443' }), true);
    assert.equal(policy.allows({ ...via('Calls.Example.com', 'https'), origin: 'https://calls.example.com' }), true, 'host case and default port normalized');
    assert.equal(policy.allows({ ...via('calls.example.com:443', 'https'), origin: 'https://calls.example.com' }), true);
    assert.equal(policy.allows({ ...via('127.0.0.1:8443', 'http'), origin: 'https://127.0.0.1:8443' }), false, 'scheme must agree');
    assert.equal(policy.allows({ ...via('127.0.0.1:8443', 'gopher'), origin: 'gopher://127.0.0.1:8443' }), false);
    assert.equal(policy.allows({ ...via('calls.example.com', 'https'), origin: 'https://evil.example' }), false);
  });

  it('PUBLIC_URL set: only its origin and the allowlist, whatever the proxy forwards', () => {
    const policy = new OriginPolicy(['https://studio.example.org'], 'https://calls.example.com/', '0.0.0.0');
    const forwarded = { host: 'evil.example', proto: 'https' };
    assert.equal(policy.allows({ ...direct, origin: 'https://calls.example.com' }), true);
    assert.equal(policy.allows({ ...direct, origin: 'https://studio.example.org' }), true);
    assert.equal(policy.allows({ ...direct, origin: 'https://evil.example', forwarded }), false);
    assert.equal(policy.allows({ ...direct, origin: 'http://127.0.0.1:7777' }), false, 'the listen address no longer counts');
  });

  it('a bad ALLOWED_ORIGINS entry is a configuration error', () => {
    assert.throws(() => new OriginPolicy(['calls.example.com'], undefined, '0.0.0.0'), /ALLOWED_ORIGINS: "calls.example.com" is not an http\(s\) URL/);
  });
});
