/**
 * Issue 10 item 1: the client's address comes from X-Forwarded-For only through a trusted proxy,
 * and then only the right-most address that no trusted proxy wrote; a direct client cannot pick it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GATEWAY_DEFAULTS, gatewayConfigFromEnv } from '../src/config.js';
import { TrustedProxies, normalizeAddress } from '../src/trusted-proxies.js';

const hash = (s: string) => s;

describe('trusted proxies', () => {
  const proxies = TrustedProxies.parse(['10.0.0.0/8', 'fd00::/8', '192.0.2.7']);

  it('a direct client (not a trusted proxy) is its socket address, whatever X-Forwarded-For says', () => {
    assert.deepEqual(proxies.clientAddress('203.0.113.9', '198.51.100.1'), { address: '203.0.113.9', viaProxy: false });
    assert.deepEqual(TrustedProxies.NONE.clientAddress('10.1.2.3', '198.51.100.1'), { address: '10.1.2.3', viaProxy: false });
  });

  it('through a trusted proxy, the right-most untrusted address of the chain', () => {
    // The client forged "1.1.1.1"; nginx appended what it saw (198.51.100.1); an inner proxy 10.0.0.5 appended nginx.
    assert.deepEqual(proxies.clientAddress('10.9.9.9', '1.1.1.1, 198.51.100.1, 10.0.0.5'), { address: '198.51.100.1', viaProxy: true });
    assert.equal(proxies.clientAddress('::ffff:10.9.9.9', '198.51.100.1').address, '198.51.100.1', 'IPv4-mapped peer matches the IPv4 rule');
    assert.equal(proxies.clientAddress('fd12::1', '2001:DB8::5').address, '2001:db8::5', 'IPv6 proxy and client');
    assert.equal(proxies.clientAddress('192.0.2.7', ['198.51.100.3', '10.0.0.1']).address, '198.51.100.3', 'repeated headers');
    assert.equal(proxies.clientAddress('10.9.9.9', '[2001:db8::7]:4711').address, '2001:db8::7', 'a port is dropped');
  });

  it('a chain of trusted proxies only yields its left-most entry; garbage ends the walk at the hop that wrote it', () => {
    assert.equal(proxies.clientAddress('10.9.9.9', '10.0.0.1, 10.0.0.2').address, '10.0.0.1');
    assert.equal(proxies.clientAddress('10.9.9.9', 'nonsense, 10.0.0.2').address, '10.0.0.2');
    assert.equal(proxies.clientAddress('10.9.9.9', '').address, '10.9.9.9');
    assert.deepEqual(proxies.clientAddress('10.9.9.9', undefined), { address: '10.9.9.9', viaProxy: true });
  });

  it('addresses have one spelling: IPv4-mapped IPv6 becomes IPv4', () => {
    assert.equal(normalizeAddress('::ffff:203.0.113.9'), '203.0.113.9');
    assert.equal(normalizeAddress('::FFFF:cb00:7109'), '203.0.113.9');
    assert.equal(normalizeAddress('0:0:0:0:0:ffff:203.0.113.9'), '203.0.113.9');
    assert.equal(normalizeAddress('203.0.113.9:443'), '203.0.113.9');
    assert.equal(normalizeAddress('2001:DB8::1'), '2001:db8::1');
    assert.equal(normalizeAddress('unknown'), '');
  });

  it('a mapped rule matches a plain IPv4 peer and the other way round', () => {
    const mapped = TrustedProxies.parse(['::ffff:10.0.0.0/104']);
    assert.equal(mapped.trusts('10.3.3.3'), true);
    assert.equal(TrustedProxies.parse(['10.0.0.0/8']).trusts('::ffff:10.3.3.3'), true);
    assert.equal(mapped.trusts('11.0.0.1'), false);
  });

  it('TRUSTED_PROXIES with a bad entry is a configuration error naming it', () => {
    for (const bad of ['10.0.0.0/33', 'fd00::/129', 'ten.0.0.0/8', '10.0.0.0/8/1', '10.0.0.0/', '10.0.0.0/-1']) {
      assert.throws(() => gatewayConfigFromEnv({ TRUSTED_PROXIES: `192.0.2.1,${bad}` }, hash), (err: Error) => {
        assert.equal(err.name, 'ConfigError');
        assert.ok(err.message.startsWith(`TRUSTED_PROXIES: "${bad}" is not`), err.message);
        return true;
      });
    }
    assert.deepEqual(gatewayConfigFromEnv({ TRUSTED_PROXIES: '10.0.0.0/8, fd00::/8 ,::ffff:172.16.0.0/108' }, hash).trustedProxies, ['10.0.0.0/8', 'fd00::/8', '::ffff:172.16.0.0/108']);
    assert.deepEqual(GATEWAY_DEFAULTS.trustedProxies, [], 'none by default');
  });

  it('the replaced settings TRUST_PROXY and BUDGET_BURST_MS are refused with what to set instead', () => {
    assert.throws(() => gatewayConfigFromEnv({ TRUST_PROXY: 'true' }, hash), /TRUST_PROXY is no longer read: set TRUSTED_PROXIES/);
    assert.throws(() => gatewayConfigFromEnv({ BUDGET_BURST_MS: '500' }, hash), /BUDGET_BURST_MS is no longer read: .*BUDGET_WINDOW_MS/);
    assert.throws(() => gatewayConfigFromEnv({ BUDGET_WINDOW_MS: '1005' }, hash), /multiple of 10/);
    assert.throws(() => gatewayConfigFromEnv({ PUBLIC_URL: 'calls.example.com' }, hash), /PUBLIC_URL: "calls.example.com" is not an http\(s\) URL/);
  });
});
