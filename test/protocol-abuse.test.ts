/**
 * Issue 11 items 3 and 5, through a real gateway: text messages count against the bandwidth budget
 * like audio, a peer that keeps sending what the protocol does not allow is closed, and a join with
 * sender id 0 or with a sender id already used on the line is refused (the sender id is half of
 * the SFrame nonce domain). A bystander call on another line loses nothing through all of it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FrameSealer, STUDIO_SAMPLE_RATE, deriveLineId, encodeAudioFrame, encodeJoin, samplesPerFrame } from '@studioline/protocol';
import WebSocket from 'ws';
import { PeerSummary } from '@studioline/client';
import { Embedded, metricValue, startEmbedded } from './helpers/embedded.js';
import { newLink, rawJoin, tonePeer, waitFor } from './helpers/peers.js';

/** Opens /ws and sends this join text; `outcome` is 'joined', or the close code if closed first. */
function openJoin(server: Embedded, text: string): { ws: WebSocket; outcome: Promise<'joined' | number> } {
  const ws = new WebSocket(newLink(server.url, server.apiKey).websocketUrl, { perMessageDeflate: false });
  ws.on('open', () => ws.send(text));
  const outcome = new Promise<'joined' | number>((resolve) => {
    ws.on('message', (data, isBinary) => !isBinary && JSON.parse(data.toString()).type === 'joined' && resolve('joined'));
    ws.on('close', (code) => resolve(code));
  });
  return { ws, outcome };
}

async function joinWith(server: Embedded, text: string): Promise<'joined' | number> {
  const { ws, outcome } = openJoin(server, text);
  const result = await outcome;
  ws.close();
  return result;
}

describe('protocol abuse', () => {
  let server: Embedded;
  let bystanders: Promise<PeerSummary[]>;
  before(async () => {
    server = await startEmbedded();
    const line = newLink(server.url, server.apiKey);
    bystanders = Promise.all([tonePeer(line, 440, 6).run(), tonePeer(line, 1000, 6).run()]);
  });
  after(async () => {
    const [a, b] = await bystanders;
    assert.deepEqual([a.received, b.received], [b.sent, a.sent], 'the bystander call lost nothing');
    await server?.stop();
  });

  it('text counts against the budget: after a window full of text, audio is dropped and counted', async () => {
    const link = newLink(server.url, server.apiKey);
    const listener = await rawJoin(link);
    const sender = await rawJoin(link);
    await waitFor(() => listener.messages.some((m) => m.type === 'peer_joined'), 5000, 'listener told of the sender');
    const before = metricValue(await server.metrics(), 'studioline_gateway_budget_exceeded_total', { direction: 'in' });
    // Valid pings, padded to the largest control message: 1.2 MB at once, more than a 1 s window of a 7 Mbit/s budget.
    const ping = JSON.stringify({ type: 'ping', t: 1, pad: 'x'.repeat(2000) });
    for (let i = 0; i < 1_200_000 / ping.length; i++) sender.ws.send(ping);
    const sealer = await FrameSealer.create(link.leafBytes!, sender.sender);
    const frame = await sealer.seal(20, encodeAudioFrame(STUDIO_SAMPLE_RATE, new Int16Array(samplesPerFrame(STUDIO_SAMPLE_RATE))));
    for (let i = 0; i < 10; i++) sender.ws.send(frame);
    await waitFor(() => sender.messages.some((m) => m.code === 'over_budget'), 5000, 'the over_budget warning');
    await new Promise((r) => setTimeout(r, 300));
    const refused = metricValue(await server.metrics(), 'studioline_gateway_budget_exceeded_total', { direction: 'in' }) - before;
    assert.equal(listener.frames.count, 0, 'no audio past a budget spent on text');
    assert.ok(refused >= 10 + 100, `refused ${refused} messages (the surplus pings and the 10 frames)`);
    assert.equal(sender.ws.readyState, sender.ws.OPEN, 'throttled, not cut: pings are allowed');
    sender.ws.close();
    listener.ws.close();
  });

  it('a peer that keeps sending text the protocol does not allow is closed with 4400; a few are only dropped', async () => {
    const client = await rawJoin(newLink(server.url, server.apiKey));
    await waitFor(() => client.messages.some((m) => m.type === 'joined'), 5000, 'joined');
    const before = metricValue(await server.metrics(), 'studioline_gateway_frame_drops_total', { reason: 'not_allowed' });
    for (let i = 0; i < 5; i++) client.ws.send(JSON.stringify({ type: 'bogus', i }));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(client.ws.readyState, client.ws.OPEN, 'a few stray messages are tolerated');
    assert.equal(metricValue(await server.metrics(), 'studioline_gateway_frame_drops_total', { reason: 'not_allowed' }) - before, 5);
    for (let i = 0; i < 100; i++) client.ws.send(i % 2 ? 'not json' : JSON.stringify({ type: 'join', again: i }));
    const closed = await client.closed;
    assert.equal(closed.code, 4400);
    assert.equal(closed.reason, 'bad_request');
  });

  it('a join with sender id 0 is refused with 4400', async () => {
    const link = newLink(server.url, server.apiKey);
    const line = await deriveLineId(link.leafBytes!);
    assert.equal(await joinWith(server, encodeJoin(server.apiKey, line, 0n, STUDIO_SAMPLE_RATE)), 4400);
    assert.equal(await joinWith(server, encodeJoin(server.apiKey, line, 0x1234n, STUDIO_SAMPLE_RATE)), 'joined', 'a valid id on the same line joins');
  });

  it('a join with a sender id already used on the line is refused with 4400; the first peer stays', async () => {
    const link = newLink(server.url, server.apiKey);
    const first = await rawJoin(link);
    await waitFor(() => first.messages.some((m) => m.type === 'joined'), 5000, 'first joined');
    assert.equal(await joinWith(server, encodeJoin(server.apiKey, first.line, first.sender, STUDIO_SAMPLE_RATE)), 4400);
    // Two joins racing with one id: only one gets in.
    const racers = [0, 1].map(() => openJoin(server, encodeJoin(server.apiKey, first.line, 0xabcdefn, STUDIO_SAMPLE_RATE)));
    const outcomes = await Promise.all(racers.map((r) => r.outcome));
    for (const r of racers) r.ws.close();
    assert.deepEqual(outcomes.map(String).sort(), ['4400', 'joined']);
    assert.equal(first.ws.readyState, first.ws.OPEN);
    first.ws.close();
  });
});
