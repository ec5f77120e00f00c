/**
 * Issue 14 item 1, the client core on several channels: what is heard of each channel passes its
 * volume and mute, and each peer's, before any sink (the recorder included: each sender still gets
 * its own track); and a lost connection comes back as one new socket that rejoins every channel,
 * each with a new sender id.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CallCore, CallSocket, ChannelCall, ChannelPeer, NodePeer, ReceivedFrame, dominantFrequency, nodeSocketFactory, toneSource } from '@studioline/client';
import { STUDIO_SAMPLE_RATE, formatCallLink, generateLeaf, parseCallLink } from '@studioline/protocol';
import { Embedded, startEmbedded } from './helpers/embedded.js';
import { newLink, waitFor } from './helpers/peers.js';

/** The largest sample of a track, away from its edges. */
function peak(samples: Int16Array): number {
  let max = 0;
  for (let i = Math.floor(samples.length / 4); i < (samples.length * 3) / 4; i++) max = Math.max(max, Math.abs(samples[i]));
  return max;
}

describe('a call on several channels: the mix and reconnects', { timeout: 120_000 }, () => {
  let server: Embedded;
  before(async () => {
    server = await startEmbedded();
  });
  after(() => server?.stop());

  it('hears a channel at its volume, a muted channel not at all, and a muted peer not at all; the others keep a track each', async () => {
    const one = newLink(server.url, server.apiKey);
    const group = parseCallLink(formatCallLink(server.url, server.apiKey, generateLeaf(), false, 3));
    const three = newLink(server.url, server.apiKey);
    // The group's two talkers hear each other and start at once, before x joins: they talk for longer.
    const talk = (link: typeof one, hz: number, seconds = 2.5) => new NodePeer({ link, source: toneSource(hz, STUDIO_SAMPLE_RATE), seconds, compact: true, peerTimeoutMs: 20_000 });
    const talkers = [talk(one, 440), talk(group, 1000, 8), talk(group, 1500, 8), talk(three, 2000)];
    const runs = talkers.map((t) => t.run());
    // The group's two talkers hear each other at once; the 1500 Hz one is muted as x joins the group.
    const muted = (await waitFor(() => (talkers[2].call as CallCore).senderId, 20_000, 'the 1500 Hz talker joined')).toString(16);
    const x = new ChannelPeer({
      onCall: (call) => call.on('joined', ({ channel }) => channel === 'group' && call.setPeerMuted('group', muted, true)),
      channels: [
        { name: 'one', link: one, mode: 'listen', volume: 0.5 },
        { name: 'group', link: group, mode: 'listen' },
        { name: 'three', link: three, mode: 'listen', muted: true },
      ],
      source: toneSource(660, STUDIO_SAMPLE_RATE),
      seconds: 2,
      record: true,
      peerTimeoutMs: 20_000,
    });
    const summary = await x.run();
    await Promise.all(runs);
    const tracks = summary.tracks ?? [];
    const byChannel = (name: string) => tracks.filter((t) => t.channel === name);
    // Channel one at half volume: the 440 Hz tone (sent at half scale, 16384) is heard at about 8192.
    const [t1] = byChannel('one');
    assert.ok(Math.abs(dominantFrequency(t1.samples, t1.sampleRate) - 440) < 5);
    assert.ok(Math.abs(peak(t1.samples) - 8192) < 300, `channel one's peak ${peak(t1.samples)}, half of 16384`);
    // The group: one track per sender; the muted peer's holds at most what came before it was muted.
    const group2 = byChannel('group');
    assert.equal(group2.length, 1, `one track on the group: the peer not muted (${JSON.stringify(summary.channels)})`);
    assert.ok(Math.abs(dominantFrequency(group2[0].samples, group2[0].sampleRate) - 1000) < 5 && peak(group2[0].samples) > 15_000, 'the 1000 Hz peer of the group at full volume');
    const g = summary.channels.find((c) => c.name === 'group')!;
    assert.equal(g.senders.length, 2, 'two senders heard on the group');
    assert.ok(g.muted > 100, `frames of the muted peer kept from the sinks: ${g.muted}`);
    // Channel three muted: heard (counted) but nothing reached the recorder.
    const c3 = summary.channels.find((c) => c.name === 'three')!;
    // (Muted counts what reached the mix: on the compact layer, frames the decoder rebuilt too.)
    assert.ok(c3.received > 100 && c3.muted >= c3.received, `channel three: ${c3.muted} muted, ${c3.received} received`);
    assert.equal(byChannel('three').length, 0);
  });

  it('a lost connection comes back as one new socket that rejoins every channel with new sender ids', async () => {
    const [one, two] = [newLink(server.url, server.apiKey), newLink(server.url, server.apiKey)];
    const heard: ReceivedFrame[][] = [[], []];
    const listeners = [one, two].map((link, i) => new NodePeer({ link, source: toneSource(440, STUDIO_SAMPLE_RATE), seconds: 5, listenOnly: true, sinks: [{ push: (f) => heard[i].push(f) }], peerTimeoutMs: 20_000 }));
    const runs = listeners.map((l) => l.run());
    const sockets: CallSocket[] = [];
    const open = nodeSocketFactory();
    let call: ChannelCall | undefined;
    const x = new ChannelPeer({
      channels: [
        { name: 'one', link: one },
        { name: 'two', link: two },
      ],
      source: toneSource(660, STUDIO_SAMPLE_RATE),
      seconds: 4,
      peerTimeoutMs: 20_000,
      socket: (url, onRefused) => {
        const s = open(url, onRefused);
        sockets.push(s);
        return s;
      },
      onCall: (c) => (call = c),
    });
    const running = x.run();
    await waitFor(() => heard[0].length > 50 && heard[1].length > 50, 20_000, 'both lines hear x');
    const before = call!.channels.map((c) => c.core.senderId);
    (sockets[0] as unknown as { terminate(): void }).terminate();
    await waitFor(() => call!.channels.every((c) => c.core.isJoined && c.core.senderId !== before[c.number]), 15_000, 'both channels rejoined');
    const after = call!.channels.map((c) => c.core.senderId);
    const summary = await running;
    await Promise.all(runs);
    assert.equal(sockets.length, 2, 'one new socket for both channels');
    for (const c of summary.channels) assert.equal(c.reconnects, 1, `${c.name} reconnected once`);
    for (const [i, lines] of heard.entries()) {
      const senders = new Set(lines.map((f) => f.senderId));
      assert.deepEqual(senders, new Set([before[i], after[i]]), `line ${i + 1} heard x before and after, under two sender ids`);
    }
  });
});
