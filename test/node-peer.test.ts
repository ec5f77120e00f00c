/**
 * The Node peer's hooks for measuring a call (the certifier builds on them): onSent and onAudio
 * name the same frames (sender id and counter) on one clock, so latency is heard minus sent.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Embedded, startEmbedded } from './helpers/embedded.js';
import { newLink, tonePeer } from './helpers/peers.js';

describe('Node peer hooks', () => {
  let server: Embedded;
  before(async () => {
    server = await startEmbedded();
  });
  after(() => server?.stop());

  it('every frame heard was reported sent, with its sender id and counter, earlier on the same clock', async (t) => {
    const link = newLink(server.url, server.apiKey);
    const sent = new Map<string, number>();
    const heard: { key: string; at: number }[] = [];
    const [a, b] = await Promise.all([
      tonePeer(link, 440, 2, { record: false, onSent: (sender, ctr, at) => sent.set(`${sender}:${ctr}`, at) }).run(),
      tonePeer(link, 1000, 2, { record: false, onAudio: (sender, ctr, at) => heard.push({ key: `${sender}:${ctr}`, at }) }).run(),
    ]);
    assert.equal(sent.size, a.sent, 'onSent once per frame sent');
    assert.equal(heard.length, b.received, 'onAudio once per frame heard');
    const latencies = heard.map((h) => {
      const at = sent.get(h.key);
      assert.ok(at !== undefined, `frame ${h.key} was heard but never reported sent`);
      return h.at - at;
    });
    assert.ok(latencies.every((ms) => ms >= 0), 'heard after sent');
    latencies.sort((x, y) => x - y);
    t.diagnostic(`latency sent -> heard on loopback: p50 ${latencies[latencies.length >> 1].toFixed(2)} ms, max ${latencies.at(-1)!.toFixed(2)} ms`);
  });
});
