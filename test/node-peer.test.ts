/**
 * The Node peer's hooks for measuring a call (the certifier builds on them): onSent and onAudio
 * name the same frames (sender id and counter) on one clock, so latency is heard minus sent; and
 * its playout runs what it hears through the page's jitter buffer.
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

  it('plays what it hears through the jitter buffer: every frame heard is played, dropped as late, or still waiting', async (t) => {
    const link = newLink(server.url, server.apiKey);
    const [, b] = await Promise.all([tonePeer(link, 440, 3, { record: false }).run(), tonePeer(link, 1000, 3, { record: false, playout: true }).run()]);
    assert.equal(b.playout?.length, 1, 'one sender heard');
    const p = b.playout![0];
    t.diagnostic(`frames waited ${p.residenceMs.toFixed(1)} ms (target ${p.targetMs.toFixed(1)} ms, jitter ${p.jitterMs.toFixed(1)} ms); played ${p.played}, late ${p.late}, concealed ${p.concealed}, underruns ${p.underruns}, restarts ${p.restarts}`);
    assert.equal(p.pushed, b.received, 'every frame heard went to the buffer');
    assert.ok(p.played > b.received / 2, `most frames played (${p.played} of ${b.received})`);
    // Nothing vanishes: a frame is played, dropped as late, or waiting (a restart may discard what waited).
    if (p.restarts === 0) assert.equal(p.played + p.late + p.queued, p.pushed);
    else assert.ok(p.played + p.late + p.queued <= p.pushed);
    assert.ok(p.targetMs > 0 && p.targetMs <= 300, `target within the buffer's bounds (${p.targetMs} ms)`);
  });
});
