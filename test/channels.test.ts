/**
 * Issue 14 item 1, several channels over one websocket: a peer on two lines at once hears each
 * line's tone, and talks into one only while its script holds that channel's key; a channel left
 * keeps the other going on the same socket; the channel cap and the key's limits refuse one channel
 * (counted) and leave the others be; a listener of three full-rate lines stays within its 7 Mbit/s
 * downlink (the lead channel full rate, the others compact).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ChannelCall, ChannelPeer, NodePeer, ReceivedFrame, dominantFrequency, toneSource } from '@studioline/client';
import { CallLink, STUDIO_SAMPLE_RATE, deriveLineId, encodeChannelFrame, encodeJoin, randomSenderId } from '@studioline/protocol';
import WebSocket from 'ws';
import { Embedded, metricValue, startEmbedded } from './helpers/embedded.js';
import { newLink, waitFor } from './helpers/peers.js';

/** A websocket speaking the channel protocol by hand. */
interface ChannelClient {
  ws: WebSocket;
  messages: Record<string, unknown>[];
  framesByChannel: Map<number, number>;
  closed: Promise<number>;
  join(ch: number, link: CallLink, apiKey?: string): Promise<Record<string, unknown>>;
  /** The answer to a channel's join: joined, or an error naming the channel. */
  answer(ch: number): Promise<Record<string, unknown>>;
}

async function channelClient(url: string): Promise<ChannelClient> {
  const ws = new WebSocket(newLink(url, 'x').websocketUrl, { perMessageDeflate: false });
  const messages: Record<string, unknown>[] = [];
  const framesByChannel = new Map<number, number>();
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('message', (data: Buffer, isBinary) => {
    if (isBinary) framesByChannel.set(data[0], (framesByChannel.get(data[0]) ?? 0) + 1);
    else messages.push(JSON.parse(data.toString()));
  });
  await new Promise<void>((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('error', reject);
  });
  const answer = (ch: number) => waitFor(() => messages.find((m) => m.ch === ch && (m.type === 'joined' || m.type === 'error')), 10_000, `channel ${ch} answered`);
  return {
    ws,
    messages,
    framesByChannel,
    closed,
    answer,
    async join(ch, link, apiKey) {
      ws.send(encodeJoin(apiKey ?? link.apiKey, await deriveLineId(link.leafBytes!), randomSenderId(), STUDIO_SAMPLE_RATE, { ch }));
      return answer(ch);
    },
  };
}

/** Stops a listener once what was sent to it has arrived: nothing more for a second (at most 15 s). */
async function stopWhenQuiet(x: ChannelPeer): Promise<void> {
  const heard = () => x.call.channels.reduce((n, c) => n + c.core.figures().bytesReceived, 0);
  const until = Date.now() + 15_000;
  let last = -1;
  while (Date.now() < until && heard() !== last) {
    last = heard();
    await new Promise((r) => setTimeout(r, 1000));
  }
  x.call.stop();
}

/** The PCM of `frames`, joined into one signal. */
function pcmOf(frames: ReceivedFrame[]): Int16Array {
  const out = new Int16Array(frames.reduce((n, f) => n + f.pcm.length, 0));
  let at = 0;
  for (const f of frames) {
    out.set(f.pcm, at);
    at += f.pcm.length;
  }
  return out;
}

describe('several channels over one websocket', { timeout: 120_000 }, () => {
  let server: Embedded;
  before(async () => {
    server = await startEmbedded({ maxChannels: 3 });
  });
  after(() => server?.stop());
  const connections = async () => metricValue(await server.metrics(), 'studioline_gateway_connections_total');
  /** The servers' drop counters, for a failure's message. */
  const dropsSeen = async () => (await server.metrics()).split('\n').filter((l) => /^studioline_(gateway|relay)_(frame_drops_total\{|frames_(in|out)_total )/.test(l)).join(', ');

  it('hears both lines at their own tones, and talks into channel 2 only while its script holds the key', async () => {
    const [one, two] = [newLink(server.url, server.apiKey), newLink(server.url, server.apiKey)];
    const heardByA: ReceivedFrame[] = [];
    const heardByB: ReceivedFrame[] = [];
    const before = await connections();
    // a on line one (440 Hz), b on line two (1000 Hz, with the compact layer the second channel is sent).
    const a = new NodePeer({ link: one, source: toneSource(440, STUDIO_SAMPLE_RATE), seconds: 8, compact: true, sinks: [{ push: (f) => heardByA.push(f) }], peerTimeoutMs: 20_000 });
    const b = new NodePeer({ link: two, source: toneSource(1000, STUDIO_SAMPLE_RATE), seconds: 8, compact: true, sinks: [{ push: (f) => heardByB.push(f) }], peerTimeoutMs: 20_000 });
    const runs = [a.run(), b.run()];
    // x on both: channel 1 push-to-talk with no span (never talks), channel 2 talks from 0.5 s to 1.5 s.
    const x = new ChannelPeer({
      channels: [
        { name: 'one', link: one, talk: [] },
        { name: 'two', link: two, talk: [[0.5, 1.5]] },
      ],
      source: toneSource(660, STUDIO_SAMPLE_RATE),
      seconds: 4,
      record: true,
      peerTimeoutMs: 20_000,
    });
    const summary = await x.run();
    await Promise.all(runs);
    assert.equal((await connections()) - before, 3, 'x used one websocket for both channels');
    const [c1, c2] = summary.channels;
    assert.deepEqual([c1.name, c1.number, c2.name, c2.number], ['one', 0, 'two', 1]);
    // What x heard: one track per line, each at its line's tone; channel two's on the compact layer.
    const tracks = summary.tracks ?? [];
    const track = (channel: string) => tracks.find((t) => t.channel === channel);
    assert.ok(track('one') && track('two'), `a track per channel: ${tracks.map((t) => t.channel)}`);
    assert.ok(Math.abs(dominantFrequency(track('one')!.samples, track('one')!.sampleRate) - 440) < 5, 'channel one: 440 Hz');
    assert.ok(Math.abs(dominantFrequency(track('two')!.samples, track('two')!.sampleRate) - 1000) < 5, 'channel two: 1000 Hz');
    assert.equal(track('one')!.sampleRate, STUDIO_SAMPLE_RATE, 'the lead channel is sent the full layer');
    assert.ok(c2.compactReceived > 0 && c2.compactReceived === c2.received, `channel two is sent the compact layer only (${c2.compactReceived} of ${c2.received})`);
    assert.deepEqual(c2.layerSwitches[0], { layer: 'compact', reason: 'channels' });
    // What x sent: nothing into line one; into line two, its script's span (and the fade-out frame).
    assert.equal(heardByA.length, 0, 'line one heard nothing from x');
    assert.equal(c1.sent, 0);
    const fromX = heardByB;
    const ctrs = fromX.map((f) => Number(f.ctr));
    const late = summary.skippedLate;
    assert.deepEqual(ctrs.filter((c) => c < 50 || c > 150 + late), [], 'nothing outside the span');
    assert.equal(fromX.length, c2.sent, `every frame it sent on channel two arrived; the servers dropped: ${await dropsSeen()}`);
    assert.ok(Math.abs(dominantFrequency(pcmOf(fromX.slice(2, -2)), STUDIO_SAMPLE_RATE) - 660) < 5, "line two heard x's 660 Hz");
  });

  it('leaves one channel and keeps the other on the same socket', async () => {
    const [one, two] = [newLink(server.url, server.apiKey), newLink(server.url, server.apiKey)];
    const heardByA: ReceivedFrame[] = [];
    const bLeft: string[] = [];
    const a = new NodePeer({ link: one, source: toneSource(440, STUDIO_SAMPLE_RATE), seconds: 3, listenOnly: true, sinks: [{ push: (f) => heardByA.push(f) }], peerTimeoutMs: 20_000 });
    const b = new NodePeer({ link: two, source: toneSource(1000, STUDIO_SAMPLE_RATE), seconds: 3, listenOnly: true, peerTimeoutMs: 20_000, onServerMessage: (m) => m.type === 'peer_left' && bLeft.push(m.sender as string) });
    const before = await connections();
    const runs = [a.run(), b.run()];
    let call: ChannelCall | undefined;
    const x = new ChannelPeer({
      channels: [
        { name: 'one', link: one },
        { name: 'two', link: two },
      ],
      source: toneSource(660, STUDIO_SAMPLE_RATE),
      seconds: 2.5,
      peerTimeoutMs: 20_000,
      onCall: (c) => (call = c),
    });
    const running = x.run();
    await waitFor(() => call?.channels.length === 2 && call.channels.every((c) => c.core.isJoined) && heardByA.length > 20, 20_000, 'x on both channels, talking');
    assert.equal(metricValue(await server.metrics(), 'studioline_gateway_channels'), 2);
    const xOnTwo = call!.channel('two').core.senderId!.toString(16);
    call!.remove('two');
    await waitFor(() => bLeft.includes(xOnTwo), 5000, 'line two told x left');
    assert.equal(metricValue(await server.metrics(), 'studioline_gateway_channels'), 1, 'the gateway holds one channel of x now');
    const summary = await running;
    await Promise.all(runs);
    assert.equal((await connections()) - before, 3, 'one socket all along for x');
    const c1 = summary.channels.find((c) => c.name === 'one')!;
    assert.equal(c1.reconnects, 0);
    assert.equal(heardByA.length, c1.sent, 'line one heard every frame x sent there, before and after it left line two');
    assert.equal(c1.sent, 250 - summary.skippedLate, 'x talked on line one to the end');
  });

  it('refuses a channel over the cap, a line taken twice and the key limits one channel at a time, counted; seats come back', async () => {
    const metrics = async (code: string) => metricValue(await server.metrics(), 'studioline_gateway_refusals_total', { code });
    const client = await channelClient(server.url);
    const lines = [0, 1, 2, 3].map(() => newLink(server.url, server.apiKey));
    assert.equal((await client.join(0, lines[0])).type, 'joined');
    assert.equal((await client.join(1, lines[1])).type, 'joined');
    const taken = await client.join(2, lines[1]);
    assert.deepEqual([taken.type, taken.code], ['error', 'channel_taken']);
    assert.equal((await client.join(3, lines[2])).type, 'joined');
    const over = await client.join(4, lines[3]);
    assert.deepEqual([over.type, over.code, over.ch], ['error', 'channel_limit', 4]);
    assert.match(over.message as string, /as many channels as the server allows/);
    assert.equal(await metrics('channel_limit'), 1);
    assert.equal(await metrics('channel_taken'), 1);
    // The socket and its three channels go on: a ping on channel 0 is answered there.
    client.ws.send(JSON.stringify({ type: 'ping', t: 1, ch: 0 }));
    await waitFor(() => client.messages.find((m) => m.type === 'pong' && m.ch === 0), 5000, 'a pong on channel 0');
    // Leaving one makes room for another.
    client.ws.send(JSON.stringify({ type: 'leave', ch: 1 }));
    await waitFor(() => client.messages.find((m) => m.type === 'left' && m.ch === 1), 5000, 'channel 1 left');
    assert.equal((await client.join(5, lines[3])).type, 'joined');
    // A frame for a channel it is not on is dropped and counted, not a reason to close.
    const drops = metricValue(await server.metrics(), 'studioline_gateway_frame_drops_total', { reason: 'no_channel' });
    client.ws.send(encodeChannelFrame(9, new Uint8Array(40)));
    client.ws.send(JSON.stringify({ type: 'ping', t: 2, ch: 0 }));
    await waitFor(() => client.messages.find((m) => m.type === 'pong' && m.t === 2), 5000, 'the ping after the frame answered');
    assert.equal(metricValue(await server.metrics(), 'studioline_gateway_frame_drops_total', { reason: 'no_channel' }), drops + 1);
    assert.equal(client.ws.readyState, WebSocket.OPEN);
    client.ws.close();

    // A key that may hold one line: its second channel is refused alone, and once the first leaves, the seat comes back.
    const headers = { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' };
    const created = (await (await fetch(`${server.adminUrl}/v1/keys`, { method: 'POST', headers, body: JSON.stringify({ name: 'one line', limits: { maxLines: 1 } }) })).json()) as { secret: string };
    const limited = await channelClient(server.url);
    const [p, q] = [newLink(server.url, created.secret), newLink(server.url, created.secret)];
    const before = await metrics('key_line_limit');
    assert.equal((await limited.join(0, p)).type, 'joined');
    const refused = await limited.join(1, q);
    assert.deepEqual([refused.type, refused.code, refused.ch], ['error', 'key_line_limit', 1]);
    assert.equal((await metrics('key_line_limit')) - before, 1);
    limited.ws.send(JSON.stringify({ type: 'leave', ch: 0 }));
    await waitFor(() => limited.messages.find((m) => m.type === 'left' && m.ch === 0), 5000, 'channel 0 left');
    const again = await limited.join(2, q);
    assert.equal(again.type, 'joined', `the seat of the channel left came back: ${JSON.stringify(again)}`);
    assert.equal(limited.ws.readyState, WebSocket.OPEN);
    limited.ws.close();
    await limited.closed;
  });

  it('a listener of three full-rate lines is sent the lead channel at full rate and the others compact, within its budget', async (t) => {
    const links = [0, 1, 2].map(() => newLink(server.url, server.apiKey));
    const tones = [440, 1000, 1500];
    const talkers = links.map((link, i) => new NodePeer({ link, source: toneSource(tones[i], STUDIO_SAMPLE_RATE), seconds: 6, compact: true, listenOnly: false, peerTimeoutMs: 20_000 }));
    const runs = talkers.map((t) => t.run());
    const overBefore = metricValue(await server.metrics(), 'studioline_gateway_budget_exceeded_total', { direction: 'out' });
    const x = new ChannelPeer({
      channels: links.map((link, i) => ({ name: `ch${i + 1}`, link, mode: 'listen' as const })),
      source: toneSource(660, STUDIO_SAMPLE_RATE),
      seconds: 60,
      record: true,
      peerTimeoutMs: 20_000,
    });
    // x listens until the talkers are done (they start when x joins their line).
    const started = performance.now();
    const listening = x.run();
    const talked = await Promise.all(runs);
    const seconds = (performance.now() - started) / 1000;
    await stopWhenQuiet(x);
    const summary = await listening;
    const [lead, ...others] = summary.channels;
    assert.equal(lead.compactReceived, 0, 'the lead channel: full rate');
    for (const c of others) assert.ok(c.received > 100 && c.compactReceived === c.received, `${c.name}: compact only (${c.compactReceived} of ${c.received}); ${JSON.stringify(summary.channels)}; talkers ${JSON.stringify(talked.map((t) => [t.sent, t.received, t.skippedLate]))}; drops ${await dropsSeen()}`);
    for (const [i, t] of ['ch1', 'ch2', 'ch3'].entries()) {
      const track = summary.tracks!.find((k) => k.channel === t)!;
      assert.ok(Math.abs(dominantFrequency(track.samples, track.sampleRate) - tones[i]) < 5, `${t}: ${tones[i]} Hz`);
    }
    const bytes = summary.channels.reduce((n, c) => n + c.bytesReceived, 0);
    t.diagnostic(`three channels: ${summary.channels.map((c) => `${c.name} ${c.received} frames (${c.compactReceived} compact), ${((c.bytesReceived * 8) / seconds / 1e6).toFixed(2)} Mbit/s`).join('; ')}; total ${((bytes * 8) / seconds / 1e6).toFixed(2)} Mbit/s over ${seconds.toFixed(1)} s`);
    assert.ok((bytes * 8) / seconds < 7_000_000, `x received ${((bytes * 8) / seconds / 1e6).toFixed(2)} Mbit/s`);
    assert.equal(metricValue(await server.metrics(), 'studioline_gateway_budget_exceeded_total', { direction: 'out' }), overBefore, 'nothing was over its downlink budget');
  });

  it('senders with no compact layer on the other channels: the downlink budget still holds, the excess dropped and counted', async (t) => {
    const links = [0, 1, 2].map(() => newLink(server.url, server.apiKey));
    // Full rate only: the relay keeps each voice rather than lose it, so three full streams head for one socket.
    const talkers = links.map((link, i) => new NodePeer({ link, source: toneSource(440 + 500 * i, STUDIO_SAMPLE_RATE), seconds: 3, compact: false, listenOnly: false, peerTimeoutMs: 20_000 }));
    const runs = talkers.map((t) => t.run());
    const overBefore = metricValue(await server.metrics(), 'studioline_gateway_budget_exceeded_total', { direction: 'out' });
    const dropsBefore = metricValue(await server.metrics(), 'studioline_gateway_frame_drops_total') + metricValue(await server.metrics(), 'studioline_relay_frame_drops_total');
    // x listens until the talkers are done (they start when x joins their line).
    const x = new ChannelPeer({ channels: links.map((link, i) => ({ name: `ch${i + 1}`, link, mode: 'listen' as const })), source: toneSource(660, STUDIO_SAMPLE_RATE), seconds: 60, peerTimeoutMs: 20_000 });
    const started = performance.now();
    const listening = x.run();
    const talked = await Promise.all(runs);
    const seconds = (performance.now() - started) / 1000;
    await stopWhenQuiet(x);
    const summary = await listening;
    const over = metricValue(await server.metrics(), 'studioline_gateway_budget_exceeded_total', { direction: 'out' }) - overBefore;
    // Every frame a talker sent reached x, or was dropped and counted on the way (x's downlink budget;
    // a talker's own uplink budget too, when it catches up in a burst after a stall on a busy machine).
    const allDrops = async () => {
      const text = await server.metrics();
      return metricValue(text, 'studioline_gateway_frame_drops_total') + metricValue(text, 'studioline_relay_frame_drops_total');
    };
    const bytes = summary.channels.reduce((n, c) => n + c.bytesReceived, 0);
    const sent = talked.reduce((n, t) => n + t.sent, 0);
    const received = summary.channels.reduce((n, c) => n + c.received, 0);
    assert.ok(over > 0, 'frames over the downlink budget were dropped and counted');
    const dropped = (await allDrops()) - dropsBefore;
    t.diagnostic(`three full-rate channels: sent ${sent}, received ${received}, over the downlink budget ${over}, dropped in all ${dropped}; ${((bytes * 8) / seconds / 1e6).toFixed(2)} Mbit/s over ${seconds.toFixed(1)} s`);
    assert.ok(received + dropped >= sent, `received ${received} + dropped ${dropped} account for the ${sent} sent`);
    // The budget holds over any window of BUDGET_WINDOW_MS (1 s): over the run, at most one window more than its length.
    assert.ok(bytes * 8 <= 7_000_000 * (seconds + 1), `x received ${((bytes * 8) / seconds / 1e6).toFixed(2)} Mbit/s over ${seconds.toFixed(1)} s`);
  });
});
