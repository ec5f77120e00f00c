import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERRORS, LinkError, describeClose, encodeJoin, errorForCloseCode, formatCallLink, generateLeaf, parseCallLink, parseClientMessage, upgradeRefusalForStatus } from '../src/index.js';

describe('call links', () => {
  const leaf = generateLeaf();
  it('reads the preferred, the original and the generate forms', () => {
    const a = parseCallLink(`http://127.0.0.1:7777/#apikey=KEY&leaf_${leaf}`);
    assert.equal(a.apiKey, 'KEY');
    assert.equal(a.leaf, leaf);
    assert.equal(a.websocketUrl, 'ws://127.0.0.1:7777/ws');
    const b = parseCallLink(`https://calls.example/?apikey=K2#leaf_${leaf}&mobile=1`);
    assert.equal(b.apiKey, 'K2');
    assert.equal(b.websocketUrl, 'wss://calls.example/ws');
    assert.ok(b.mobile);
    const c = parseCallLink('https://calls.example/?apikey=K3#generate_leaf');
    assert.ok(c.generateLeaf);
    assert.equal(c.leaf, undefined);
    assert.equal(parseCallLink(formatCallLink('http://h:1', 'KEY', leaf)).leaf, leaf);
  });

  it('says what is wrong with a malformed link, without echoing secrets', () => {
    const cases = ['nonsense', 'ftp://h/#apikey=K&leaf_' + leaf, 'http://h/#leaf_' + leaf, 'http://h/#apikey=SECRETKEY', 'http://h/#apikey=SECRETKEY&leaf_short'];
    for (const link of cases) {
      assert.throws(() => parseCallLink(link), (err: unknown) => err instanceof LinkError && !err.message.includes('SECRETKEY'));
    }
  });
});

describe('control messages', () => {
  it('accepts a well-formed join and refuses malformed ones', () => {
    const join = { type: 'join', v: 1, apikey: 'k', line: 'A'.repeat(22), sender: 'abc', rate: 200000 };
    // A join from before layers sends and wants the full layer (layers.test.ts has the rest).
    assert.deepEqual(parseClientMessage(JSON.stringify(join)), { ...join, layers: ['full'], receive: 'full' });
    for (const bad of [{ ...join, line: 'short' }, { ...join, sender: 'xyz' }, { ...join, rate: 5 }, { ...join, v: 2 }, 'not json']) {
      assert.equal(parseClientMessage(typeof bad === 'string' ? bad : JSON.stringify(bad)), undefined);
    }
  });
  it("maps a refused upgrade's HTTP status back to the refusal, through the same table", () => {
    assert.deepEqual([403, 429, 503].map(upgradeRefusalForStatus), ['bad_origin', 'too_many_attempts', 'draining']);
    for (const code of ['bad_origin', 'too_many_attempts', 'draining'] as const) assert.equal(upgradeRefusalForStatus(ERRORS[code].httpStatus), code);
    assert.equal(upgradeRefusalForStatus(404), undefined, 'a wrong path is a failed connection, not a refusal');
  });

  it('a host’s link sets the line size (peers=N, 2 to 64); the join carries it; anything else is named', () => {
    const leaf = generateLeaf();
    const link = parseCallLink(formatCallLink('http://h:1', 'KEY', leaf, false, 8));
    assert.equal(link.capacity, 8);
    assert.equal(parseCallLink(`http://h:1/?apikey=K&peers=3#leaf_${leaf}`).capacity, 3);
    assert.equal(parseCallLink(formatCallLink('http://h:1', 'KEY', leaf)).capacity, undefined);
    for (const bad of ['1', '65', 'eight', '-2', '8.5']) {
      assert.throws(() => parseCallLink(`http://h:1/#apikey=K&leaf_${leaf}&peers=${bad}`), (e: Error) => e instanceof LinkError && /whole number from 2 to 64/.test(e.message), bad);
    }
    assert.equal(parseClientMessage(encodeJoin('k', 'A'.repeat(22), 0xabcn, 200000, { capacity: 8 }))?.type === 'join' && (parseClientMessage(encodeJoin('k', 'A'.repeat(22), 0xabcn, 200000, { capacity: 8 })) as { capacity?: number }).capacity, 8);
    assert.equal(parseClientMessage(JSON.stringify({ type: 'join', v: 1, apikey: 'k', line: 'A'.repeat(22), sender: 'abc', rate: 200000, capacity: 1000 })), undefined, 'a join asking for 1000 peers is malformed');
  });

  it('maps close codes back to error codes', () => {
    assert.equal(errorForCloseCode(4429, 'key_peer_limit'), 'key_peer_limit');
    assert.equal(errorForCloseCode(4403, 'key_mobile_only'), 'key_mobile_only');
    assert.equal(errorForCloseCode(4409), 'line_full');
    assert.equal(errorForCloseCode(4403, 'key_revoked'), 'key_revoked');
  });
  it('a client join is one the gateway accepts, and a close is described in words', () => {
    assert.deepEqual(parseClientMessage(encodeJoin('k', 'A'.repeat(22), 0xabcn, 200000)), { type: 'join', v: 1, apikey: 'k', line: 'A'.repeat(22), sender: 'abc', rate: 200000, layers: ['full'], receive: 'full' });
    assert.deepEqual(describeClose(4409, ''), { code: 'line_full', message: ERRORS.line_full.message });
    assert.deepEqual(describeClose(1006, '', { code: 'over_budget', message: 'slow down' }), { code: 'over_budget', message: 'slow down' });
    assert.deepEqual(describeClose(1006, ''), { code: undefined, message: undefined });
  });
});
