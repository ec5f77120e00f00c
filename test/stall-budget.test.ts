/**
 * Issue 10 item 7, end to end through a real gateway: a sender whose tab or network stalls for
 * 500 ms and then sends the ~50 frames it held at once loses none of them, while a sender at twice
 * the 7 Mbit/s budget for 10 s gets the budget through (within 2 %), the excess dropped and counted
 * (metrics and the over_budget warning). Real-size full-rate frames, a Node ws client, real time.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FrameSealer, STUDIO_SAMPLE_RATE, encodeAudioFrame, samplesPerFrame } from '@studioline/protocol';
import { Embedded, metricValue, startEmbedded } from './helpers/embedded.js';
import { RawClient, newLink, rawJoin, waitFor } from './helpers/peers.js';

const BUDGET_BYTES_PER_S = 7_000_000 / 8;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('budget: stall tolerance without opening a flood', () => {
  let server: Embedded;
  before(async () => {
    server = await startEmbedded();
  });
  after(async () => server?.stop());

  /** A sender and a listener on a fresh line, and one real full-rate wire frame of the sender's. */
  async function pair(): Promise<{ sender: RawClient; listener: RawClient; frame: Uint8Array }> {
    const link = newLink(server.url, server.apiKey);
    const listener = await rawJoin(link);
    const sender = await rawJoin(link);
    await waitFor(() => [sender, listener].every((c) => c.messages.some((m) => m.type === 'joined')), 5000, 'both joined');
    await waitFor(() => listener.messages.some((m) => m.type === 'peer_joined'), 5000, 'listener told of the sender');
    const sealer = await FrameSealer.create(link.leafBytes!, sender.sender);
    const pcm = new Int16Array(samplesPerFrame(STUDIO_SAMPLE_RATE)).map((_, i) => Math.round(8000 * Math.sin(i / 10)));
    return { sender, listener, frame: await sealer.seal(20, encodeAudioFrame(STUDIO_SAMPLE_RATE, pcm)) };
  }

  const counters = async () => {
    const m = await server.metrics();
    return {
      overBudget: metricValue(m, 'studioline_gateway_frame_drops_total', { reason: 'over_budget' }),
      exceededIn: metricValue(m, 'studioline_gateway_budget_exceeded_total', { direction: 'in' }),
      exceededOut: metricValue(m, 'studioline_gateway_budget_exceeded_total', { direction: 'out' }),
    };
  };

  it('a 500 ms stall, then the held frames all at once: every frame is delivered', async (t) => {
    const { sender, listener, frame } = await pair();
    const before = await counters();
    // 100 frames/s for 3 s; nothing leaves between 1.0 and 1.5 s, then the 50 held frames go at once.
    const start = performance.now();
    let sent = 0;
    let largestBurst = 0;
    while (sent < 300) {
      const elapsed = performance.now() - start;
      const stalled = elapsed >= 1000 && elapsed < 1500;
      const due = Math.min(300, Math.floor(elapsed / 10) + 1);
      if (!stalled && due > sent) {
        largestBurst = Math.max(largestBurst, due - sent);
        for (; sent < due; sent++) sender.ws.send(frame);
      }
      await sleep(5);
    }
    await waitFor(() => listener.frames.count >= 300, 3000, 'all 300 frames delivered').catch(() => undefined);
    const after = await counters();
    t.diagnostic(`${frame.length}-byte frames; largest burst ${largestBurst} frames; delivered ${listener.frames.count} of ${sent}`);
    assert.ok(largestBurst >= 45, `the catch-up was a burst (${largestBurst} frames at once)`);
    assert.equal(listener.frames.count, 300, 'nothing lost');
    assert.deepEqual([after.overBudget - before.overBudget, after.exceededIn - before.exceededIn], [0, 0], 'nothing counted over budget');
    assert.ok(!sender.messages.some((m) => m.code === 'over_budget'), 'the sender was not warned');
    sender.ws.close();
    listener.ws.close();
  });

  it('twice the budget for 10 s: the budget gets through within 2 %, the excess is dropped, counted and reported', async (t) => {
    const { sender, listener, frame } = await pair();
    const before = await counters();
    const offeredRate = 2 * BUDGET_BYTES_PER_S;
    const start = performance.now();
    let sent = 0;
    let last = start;
    for (;;) {
      const elapsed = Math.min(10_000, performance.now() - start);
      const due = Math.floor((elapsed / 1000) * (offeredRate / frame.length)) + 1;
      for (; sent < due; sent++) sender.ws.send(frame);
      last = performance.now();
      if (elapsed >= 10_000) break;
      await sleep(5);
    }
    const seconds = (last - start) / 1000;
    await waitFor(() => sender.ws.bufferedAmount === 0, 5000, 'the sender flushed');
    await sleep(500);
    const after = await counters();
    const refusedIn = after.exceededIn - before.exceededIn;
    const trimmedOut = after.exceededOut - before.exceededOut;
    const delivered = listener.frames.count;
    const ratio = (delivered * frame.length) / (BUDGET_BYTES_PER_S * seconds);
    t.diagnostic(`offered ${sent} frames (${((sent * frame.length * 8) / seconds / 1e6).toFixed(2)} Mbit/s) over ${seconds.toFixed(3)} s; delivered ${delivered} = ${((delivered * frame.length * 8) / seconds / 1e6).toFixed(3)} Mbit/s (${(ratio * 100).toFixed(2)} % of the budget); refused ${refusedIn} in, ${trimmedOut} out`);
    assert.ok((sent * frame.length) / seconds > 1.8 * BUDGET_BYTES_PER_S, 'the sender really offered about twice the budget');
    assert.ok(ratio >= 0.98 && ratio <= 1.02, `delivered ${(ratio * 100).toFixed(2)} % of the budget`);
    assert.equal(sent - refusedIn - trimmedOut, delivered, 'every frame not delivered was counted as over budget');
    assert.equal(after.overBudget - before.overBudget, refusedIn + trimmedOut);
    assert.ok(sender.messages.some((m) => m.code === 'over_budget'), 'the sender was told');
    assert.equal(sender.ws.readyState, sender.ws.OPEN, 'throttled, not cut');
    sender.ws.close();
    listener.ws.close();
  });
});
