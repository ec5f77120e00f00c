/**
 * Issue 11 item 1, through a real gateway: the failed-key limit holds against concurrent guesses
 * (attempts in flight count from their start), and one address may hold only so many
 * unauthenticated sockets and so many sockets in all.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, describe, it } from 'node:test';
import { STUDIO_SAMPLE_RATE, deriveLineId, encodeJoin, randomSenderId } from '@studioline/protocol';
import WebSocket from 'ws';
import { Embedded, metricValue, startEmbedded } from './helpers/embedded.js';
import { newLink, openSocket, rawJoin, waitFor } from './helpers/peers.js';


describe('limits per client address', () => {
  const servers: Embedded[] = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });

  it('40 concurrent sockets guessing keys get no more guesses than the failed-key limit', async (t) => {
    const server = await startEmbedded({ authFailLimit: 10, unauthenticatedPerAddress: 100 });
    servers.push(server);
    const line = await deriveLineId(newLink(server.url, server.apiKey).leafBytes!);
    const sockets = await Promise.all(Array.from({ length: 40 }, () => openSocket(server.url, server.apiKey)));
    assert.ok(sockets.every((s) => s.status === 101), 'all 40 open (the per-address socket caps are not what is tested here)');
    const closes = await Promise.all(
      sockets.map(
        ({ ws }, i) =>
          new Promise<number>((resolve) => {
            ws.on('close', (code) => resolve(code));
            ws.send(encodeJoin('g'.repeat(71) + String.fromCharCode(65 + (i % 26)), line, randomSenderId(), STUDIO_SAMPLE_RATE));
          }),
      ),
    );
    const guesses = closes.filter((c) => c === 4401).length;
    const limited = closes.filter((c) => c === 4429).length;
    t.diagnostic(`${guesses} guesses checked, ${limited} refused as too many attempts`);
    assert.equal(guesses, 10);
    assert.equal(limited, 30);
    assert.equal(metricValue(await server.metrics(), 'studioline_gateway_auth_failures_total', { reason: 'unknown' }), 10);
    const next = await openSocket(server.url, server.apiKey);
    next.ws.terminate();
    assert.equal(next.status, 429, 'and the next upgrade is refused');
  });

  it('unauthenticated sockets per address are capped; joining frees a place', async () => {
    const server = await startEmbedded({ unauthenticatedPerAddress: 3 });
    servers.push(server);
    const idle = await Promise.all([0, 1, 2].map(() => openSocket(server.url, server.apiKey)));
    assert.deepEqual(idle.map((s) => s.status), [101, 101, 101]);
    assert.equal((await openSocket(server.url, server.apiKey)).status, 429);
    assert.equal(metricValue(await server.metrics(), 'studioline_gateway_upgrades_refused_total', { reason: 'too_many_unauthenticated' }), 1);
    // One of them joins: it is authenticated, and a new socket may open.
    const link = newLink(server.url, server.apiKey);
    idle[0].ws.on('message', () => undefined);
    idle[0].ws.send(encodeJoin(server.apiKey, await deriveLineId(link.leafBytes!), randomSenderId(), STUDIO_SAMPLE_RATE));
    let next = { status: 0, ws: undefined as WebSocket | undefined };
    for (let i = 0; i < 50 && next.status !== 101; i++) {
      await new Promise((r) => setTimeout(r, 20));
      next = await openSocket(server.url, server.apiKey);
      if (next.status !== 101) next.ws?.terminate();
    }
    assert.equal(next.status, 101);
    for (const s of [...idle, next]) s.ws?.terminate();
  });

  it('a handshake that fails holds no place', async () => {
    const server = await startEmbedded({ unauthenticatedPerAddress: 2 });
    servers.push(server);
    for (let i = 0; i < 5; i++) {
      // An upgrade without Sec-WebSocket-Key: ws answers 400 and no socket is made.
      const status = await new Promise<number>((resolve, reject) => {
        request(`${server.url}/ws`, { headers: { Connection: 'Upgrade', Upgrade: 'websocket' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
          .on('error', reject)
          .end();
      });
      assert.equal(status, 400);
    }
    const ok = await Promise.all([openSocket(server.url, server.apiKey), openSocket(server.url, server.apiKey)]);
    assert.deepEqual(ok.map((s) => s.status), [101, 101]);
    for (const s of ok) s.ws.terminate();
  });

  it('open sockets per address are capped; closing one frees a place', async () => {
    const server = await startEmbedded({ socketsPerAddress: 4 });
    servers.push(server);
    const joined = [];
    for (let i = 0; i < 4; i++) {
      const client = await rawJoin(newLink(server.url, server.apiKey));
      await waitFor(() => client.messages.some((m) => m.type === 'joined'), 5000, 'joined');
      joined.push(client);
    }
    const refused = await openSocket(server.url, server.apiKey);
    assert.equal(refused.status, 429);
    assert.equal(metricValue(await server.metrics(), 'studioline_gateway_upgrades_refused_total', { reason: 'too_many_sockets' }), 1);
    joined[0].ws.close();
    await joined[0].closed;
    await new Promise((r) => setTimeout(r, 50));
    const again = await openSocket(server.url, server.apiKey);
    assert.equal(again.status, 101);
    for (const c of [...joined.slice(1)]) c.ws.close();
    again.ws.terminate();
  });
});
