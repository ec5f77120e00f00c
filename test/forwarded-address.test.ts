/**
 * Issue 10 item 1 and issue 11 item 6, through a real gateway: X-Forwarded-For and the forwarded
 * Host are believed only from a configured trusted proxy. A direct client cannot choose the address
 * that the per-address limits count, nor pass the Origin check by forging Host; behind a trusted
 * proxy the limits and the logs see the real client.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { STUDIO_SAMPLE_RATE, deriveLineId, encodeJoin, randomSenderId } from '@studioline/protocol';
import WebSocket from 'ws';
import { Embedded, metricValue, startEmbedded } from './helpers/embedded.js';
import { newLink } from './helpers/peers.js';

interface Attempt {
  /** The HTTP status when the upgrade was refused, else the websocket close code after the join. */
  status?: number;
  close?: number;
}

/** Opens /ws with these headers and joins with `apiKey`; resolves with how it ended. */
async function attempt(server: Embedded, headers: Record<string, string>, apiKey: string): Promise<Attempt> {
  const link = newLink(server.url, server.apiKey);
  const line = await deriveLineId(link.leafBytes!);
  const ws = new WebSocket(link.websocketUrl, { headers, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode });
      res.resume();
    });
    ws.on('open', () => ws.send(encodeJoin(apiKey, line, randomSenderId(), STUDIO_SAMPLE_RATE)));
    ws.on('message', (data, isBinary) => {
      if (!isBinary && JSON.parse(data.toString()).type === 'joined') ws.close(1000);
    });
    ws.on('close', (code) => resolve({ close: code }));
    ws.on('error', (err) => (err.message.includes('Unexpected server response') ? undefined : reject(err)));
  });
}

const wrongKey = 'w'.repeat(72);
const addressesLogged = (server: Embedded) =>
  server
    .logs()
    .split('\n')
    .filter((l) => l.includes('connection received'))
    .map((l) => JSON.parse(l).address as string);

describe('forwarded headers from a direct client (no trusted proxy: the default)', () => {
  let server: Embedded;
  before(async () => {
    server = await startEmbedded({ authFailLimit: 3 });
  });
  after(async () => server?.stop());

  it('X-Forwarded-For is not believed: the logs show the socket address, and a new forged address each time does not escape the failed-key limit', async () => {
    for (let i = 0; i < 3; i++) assert.deepEqual(await attempt(server, { 'X-Forwarded-For': `198.51.100.${i + 1}` }, wrongKey), { close: 4401 });
    assert.deepEqual(await attempt(server, { 'X-Forwarded-For': '198.51.100.99' }, server.apiKey), { status: 429 });
    assert.deepEqual(addressesLogged(server), ['127.0.0.1', '127.0.0.1', '127.0.0.1']);
    assert.ok(!server.logs().includes('198.51.100.'), 'no forged address in any log line');
  });

  it('a forged Host does not pass the Origin check (DNS rebinding or a forged header): 403', async () => {
    const forged = { Host: 'calls.evil.example:8443', Origin: 'https://calls.evil.example:8443', 'X-Forwarded-Proto': 'https' };
    assert.deepEqual(await attempt(server, forged, server.apiKey), { status: 403 });
    assert.deepEqual(await attempt(server, { Origin: 'http://calls.evil.example', Host: 'calls.evil.example' }, server.apiKey), { status: 403 });
    assert.equal(metricValue(await server.metrics(), 'studioline_gateway_upgrades_refused_total', { reason: 'bad_origin' }), 2);
  });
});

describe('forwarded headers from a trusted proxy', () => {
  let server: Embedded;
  before(async () => {
    // Loopback plays the proxy: every socket of this test comes from it.
    server = await startEmbedded({ authFailLimit: 3, trustedProxies: ['127.0.0.0/8', '::1'] });
  });
  after(async () => server?.stop());

  it('the client is the right-most untrusted address: logged, and limited on its own', async () => {
    // The client forged 1.1.1.1; the proxy appended what it saw.
    const via = (client: string) => ({ 'X-Forwarded-For': `1.1.1.1, ${client}` });
    for (let i = 0; i < 3; i++) assert.deepEqual(await attempt(server, via('198.51.100.7'), wrongKey), { close: 4401 });
    assert.deepEqual(await attempt(server, via('198.51.100.7'), server.apiKey), { status: 429 }, 'that client is at its limit');
    assert.deepEqual(await attempt(server, via('198.51.100.8'), server.apiKey), { close: 1000 }, 'another client behind the same proxy is not');
    assert.deepEqual(await attempt(server, { 'X-Forwarded-For': '::ffff:198.51.100.7' }, server.apiKey), { status: 429 }, 'the IPv4-mapped spelling is the same client');
    assert.deepEqual(addressesLogged(server), ['198.51.100.7', '198.51.100.7', '198.51.100.7', '198.51.100.8']);
    assert.ok(!server.logs().includes('1.1.1.1'));
  });

  it('the Origin check takes the origin the proxy forwards (X-Forwarded-Proto and Host)', async () => {
    const forwarded = { Host: 'calls.example.test:8443', 'X-Forwarded-Proto': 'https', 'X-Forwarded-For': '203.0.113.5' };
    assert.deepEqual(await attempt(server, { ...forwarded, Origin: 'https://calls.example.test:8443' }, server.apiKey), { close: 1000 });
    assert.deepEqual(await attempt(server, { ...forwarded, Origin: 'https://evil.example' }, server.apiKey), { status: 403 });
    assert.deepEqual(await attempt(server, { ...forwarded, 'X-Forwarded-Proto': 'http', Origin: 'https://calls.example.test:8443' }, server.apiKey), { status: 403 });
  });
});

describe('PUBLIC_URL set', () => {
  let server: Embedded;
  before(async () => {
    server = await startEmbedded({ publicUrl: 'https://calls.example.test', trustedProxies: ['127.0.0.0/8'] });
  });
  after(async () => server?.stop());

  it('only its origin passes, even from a trusted proxy forwarding another Host', async () => {
    assert.deepEqual(await attempt(server, { Origin: 'https://calls.example.test' }, server.apiKey), { close: 1000 });
    assert.deepEqual(await attempt(server, { Origin: 'https://other.example.test', Host: 'other.example.test', 'X-Forwarded-Proto': 'https' }, server.apiKey), { status: 403 });
    assert.deepEqual(await attempt(server, { Origin: server.url }, server.apiKey), { status: 403 });
  });
});
