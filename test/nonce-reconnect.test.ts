/**
 * Issue 11 item 7 (DESIGN §3): a reconnect uses a new sender id, so (key, counter) never repeats.
 * A Node peer's connection is dropped six times mid-call (a TCP proxy between it and the gateway
 * cuts every connection, with a reset as a killed gateway's kernel sends, or a FIN); a listener
 * that stays connected reads the SFrame header of every frame that reaches it. The SFrame key is
 * derived from the leaf and the sender id (RFC 9605 §4.4.1), so a repeated (sender id, counter)
 * pair would be a repeated AES-GCM nonce under one key. Each session starts its counter at 0: a
 * peer that kept its sender id across a reconnect would repeat pairs at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeHeader } from '@studioline/protocol';
import { Embedded, startEmbedded } from './helpers/embedded.js';
import { newLink, rawJoin, sameLineVia, tonePeer, waitFor } from './helpers/peers.js';
import { TcpProxy, startTcpProxy } from './helpers/tcp-proxy.js';

const CUTS = 6;

describe('nonces across reconnects', () => {
  let server: Embedded;
  let proxy: TcpProxy;
  before(async () => {
    server = await startEmbedded();
    proxy = await startTcpProxy(server.app.gateway!.port);
  });
  after(async () => {
    await proxy?.close();
    await server?.stop();
  });

  it(`a peer dropped ${CUTS} times takes a new sender id each time: no (sender id, counter) pair repeats on the wire`, async (t) => {
    const link = newLink(server.url, server.apiKey);
    const listener = await rawJoin(link);
    /** What reached the listener: sender id -> counters, in arrival order. */
    const heard = new Map<bigint, bigint[]>();
    let frames = 0;
    listener.ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      const { kid, ctr } = decodeHeader(data, 1)!;
      if (!heard.has(kid)) heard.set(kid, []);
      heard.get(kid)!.push(ctr);
      frames++;
    });
    const sentPairs: string[] = [];
    const peer = tonePeer(sameLineVia(link, `http://127.0.0.1:${proxy.port}`), 440, 12, { record: false, onSent: (id, ctr) => sentPairs.push(`${id}:${ctr}`) });
    const run = peer.run();
    for (let i = 0; i < CUTS; i++) {
      // Each session sends for a while (its counter well past 0) before its connection is cut.
      const sessions = i + 1;
      await waitFor(() => heard.size === sessions && [...heard.values()].at(-1)!.length >= 50, 10_000, `session ${sessions} heard`);
      assert.equal(proxy.cut(i % 2 ? 'end' : 'reset'), 1, 'one connection cut');
    }
    await waitFor(() => heard.size === CUTS + 1 && [...heard.values()].at(-1)!.length >= 50, 10_000, 'the last session heard');
    const summary = await run;
    listener.ws.close();

    const pairs = [...heard].flatMap(([kid, ctrs]) => ctrs.map((ctr) => `${kid}:${ctr}`));
    t.diagnostic(`${summary.reconnects} reconnects, ${heard.size} sender ids, ${frames} frames heard; counters per sender id: ${[...heard.values()].map((c) => `${c[0]}..${c.at(-1)}`).join(', ')}`);
    assert.equal(summary.reconnects, CUTS, 'the peer reconnected by itself after each cut');
    assert.equal(heard.size, CUTS + 1, 'one sender id per session');
    assert.equal(new Set(pairs).size, pairs.length, 'no (sender id, counter) pair reached the listener twice');
    assert.equal(new Set(sentPairs).size, sentPairs.length, 'nor left the peer twice');
    assert.equal(sentPairs.length, summary.sent);
    // Counters only climb within a session (the frame clock carries on across sessions: it is the
    // new sender id of each session, a new key, that keeps pairs from repeating).
    for (const ctrs of heard.values()) assert.ok(ctrs.every((c, i) => i === 0 || c > ctrs[i - 1]), 'counters climb within a session');
  });
});
