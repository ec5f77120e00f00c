/**
 * Issue 11 item 7: a slow reader is bounded but not cut when it recovers. A peer that stops
 * reading its socket (while still sending, as a peer with a stalled downlink does) fills the
 * kernel's socket buffers first (megabytes on loopback), then the gateway's own queue for it, which
 * stops at SLOW_READER_BYTES: past it frames for that peer are dropped and counted, never queued.
 * The peer is not disconnected; once it reads again it gets current audio, and every frame it
 * missed is a counted drop. Its partner, who reads, loses nothing. A silent listener that stops
 * reading answers no ping: it is cut within two ping intervals, so a dead reader holds no place.
 */
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FrameSealer, STUDIO_SAMPLE_RATE, decodeHeader, encodeAudioFrame, samplesPerFrame } from '@studioline/protocol';
import { GATEWAY_DEFAULTS } from '@studioline/gateway';
import { Embedded, metricValue, startEmbedded } from './helpers/embedded.js';
import { RawClient, newLink, rawJoin, waitFor } from './helpers/peers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Like waitFor, for a probe that must await (waitFor takes a promise for a true answer). */
async function until(probe: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const by = performance.now() + timeoutMs;
  while (!(await probe())) {
    if (performance.now() > by) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
const socketOf = (c: RawClient) => (c.ws as unknown as { _socket: Socket })._socket;

/**
 * Sends one sealed full-rate frame every 10 ms on the wall clock, catching up after a late timer
 * but skipping frames more than 200 ms late, as the call core does (a burst past the budget would
 * be dropped as over_budget, and muddle the count of slow-reader drops).
 */
async function startSending(client: RawClient, leaf: Uint8Array): Promise<{ sent: () => number; nextCtr: () => bigint; stop: () => void }> {
  const sealer = await FrameSealer.create(leaf, client.sender);
  const pcm = new Int16Array(samplesPerFrame(STUDIO_SAMPLE_RATE)).map((_, i) => Math.round(8000 * Math.sin(i / 10)));
  const payload = encodeAudioFrame(STUDIO_SAMPLE_RATE, pcm);
  const start = performance.now();
  let sent = 0;
  let next = 0;
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    const due = Math.floor((performance.now() - start) / 10) + 1;
    next = Math.max(next, due - 20);
    for (; next < due && client.ws.readyState === client.ws.OPEN; next++) {
      client.ws.send(await sealer.seal(20, payload));
      sent++;
    }
    busy = false;
  }, 5);
  return { sent: () => sent, nextCtr: () => BigInt(sealer.sealed), stop: () => clearInterval(timer) };
}

/** Every frame a client receives, as the SFrame counter of its header (byte 0 is the level). */
function counters(client: RawClient): bigint[] {
  const ctrs: bigint[] = [];
  client.ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) ctrs.push(decodeHeader(data, 1)!.ctr);
  });
  return ctrs;
}

describe('a slow reader', () => {
  let server: Embedded;
  before(async () => {
    server = await startEmbedded();
  });
  after(async () => server?.stop());

  const drops = async () => metricValue(await server.metrics(), 'studioline_gateway_frame_drops_total', { reason: 'slow_reader' });

  it('that stops reading: its queue stops at SLOW_READER_BYTES, the excess is dropped and counted; it is not cut, and hears current audio once it reads again', async (t) => {
    const link = newLink(server.url, server.apiKey);
    const slow = await rawJoin(link);
    const partner = await rawJoin(link);
    await waitFor(() => slow.messages.some((m) => m.type === 'peer_joined'), 5000, 'the slow reader told of its partner');
    const heardBySlow = counters(slow);
    const heardByPartner = counters(partner);
    const dropsBefore = await drops();
    const fromPartner = await startSending(partner, link.leafBytes!);
    const fromSlow = await startSending(slow, link.leafBytes!);
    await waitFor(() => heardBySlow.length >= 100, 5000, 'audio flowing');

    socketOf(slow).pause();
    const pausedAt = performance.now();
    let largestQueue = 0;
    // Paused until the kernel's buffers are full and the gateway has dropped for 3 s (30 s at most).
    let droppingSince = 0;
    while (performance.now() - pausedAt < 30_000 && (!droppingSince || performance.now() - droppingSince < 3000)) {
      await sleep(250);
      const m = await server.metrics();
      largestQueue = Math.max(largestQueue, metricValue(m, 'studioline_gateway_send_queue_max_bytes'));
      if (!droppingSince && metricValue(m, 'studioline_gateway_frame_drops_total', { reason: 'slow_reader' }) > dropsBefore) droppingSince = performance.now();
    }
    const pausedMs = performance.now() - pausedAt;
    const heardBeforeResume = heardBySlow.length;
    const partnerCtrAtResume = fromPartner.nextCtr();
    socketOf(slow).resume();
    const resumedAt = performance.now();
    // Current audio: a frame the partner sent after the resume.
    await waitFor(() => heardBySlow.some((c) => c >= partnerCtrAtResume), 3000, 'current audio after the resume');
    const currentAfterMs = performance.now() - resumedAt;
    await sleep(1000);
    fromPartner.stop();
    fromSlow.stop();
    // Every frame the partner sent either reached the slow reader or was counted as dropped for it.
    await until(async () => heardBySlow.length + (await drops()) - dropsBefore >= fromPartner.sent(), 5000, 'the last frames delivered').catch(() => undefined);
    const dropped = (await drops()) - dropsBefore;
    t.diagnostic(
      `paused ${(pausedMs / 1000).toFixed(1)} s (gateway dropping for ${droppingSince ? ((performance.now() - droppingSince) / 1000).toFixed(1) : 0} s); ` +
        `largest queue ${largestQueue} B (limit ${GATEWAY_DEFAULTS.slowReaderBytes}); partner sent ${fromPartner.sent()}, slow reader heard ${heardBySlow.length} (${heardBeforeResume} before the resume), ` +
        `dropped ${dropped}; current audio ${currentAfterMs.toFixed(0)} ms after the resume`,
    );
    assert.ok(droppingSince > 0, 'the gateway started dropping for the slow reader within 30 s');
    assert.ok(largestQueue > 0, 'the gateway held a queue for it');
    assert.ok(largestQueue <= GATEWAY_DEFAULTS.slowReaderBytes + 16 * 1024, `the queue stayed at most SLOW_READER_BYTES plus one frame: ${largestQueue} B`);
    assert.equal(slow.ws.readyState, slow.ws.OPEN, 'the slow reader was not cut');
    assert.ok(!slow.messages.some((m) => m.type === 'error'), 'nor warned');
    assert.equal(heardBySlow.length + dropped, fromPartner.sent(), 'every frame it missed is a counted drop');
    assert.ok(dropped > 0);
    // Its partner reads: nothing it was sent was lost while the other stopped reading.
    await waitFor(() => heardByPartner.length >= fromSlow.sent(), 3000, 'the partner heard everything').catch(() => undefined);
    assert.equal(heardByPartner.length, fromSlow.sent(), 'the partner heard every frame of the slow reader');
    slow.ws.close();
    partner.ws.close();
  });

  it('a silent listener that stops reading answers no ping, and is cut within two ping intervals', async (t) => {
    const pingIntervalMs = 1000;
    const quick = await startEmbedded({ pingIntervalMs });
    try {
      const link = newLink(quick.url, quick.apiKey);
      const listener = await rawJoin(link);
      await waitFor(() => listener.messages.some((m) => m.type === 'joined'), 5000, 'joined');
      const connections = async () => metricValue(await quick.metrics(), 'studioline_gateway_connections');
      assert.equal(await connections(), 1);
      // Still connected after more than two intervals of reading (pongs go out as pings come in).
      await sleep(2.5 * pingIntervalMs);
      assert.equal(await connections(), 1, 'a reading listener is kept');
      socketOf(listener).pause();
      const pausedAt = performance.now();
      await until(async () => (await connections()) === 0, 3 * pingIntervalMs, 'the gateway cut the paused listener');
      t.diagnostic(`cut ${(performance.now() - pausedAt).toFixed(0)} ms after it stopped reading (ping interval ${pingIntervalMs} ms)`);
      socketOf(listener).resume();
      const closed = await listener.closed;
      assert.equal(closed.code, 1006, 'terminated, not closed politely');
    } finally {
      await quick.stop();
    }
  });
});
