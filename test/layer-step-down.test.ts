/**
 * Issue 13 item 2: the relay sends each receiver the best layer its link carries. A receiver
 * behind a real throttled link steps down to the compact layer within a second, keeps hearing its
 * partner with no hole in the audio, and steps back up after a calm spell once the throttle lifts;
 * its partner, whose link is fine, is never switched.
 *
 * Real shaping, not a proxy: the receiver is a `studioline peer` process in its own network
 * namespace, behind a veth pair whose host side gets a tc token bucket (tbf) of 1 Mbit/s, a
 * third of one full-rate stream. TCP then queues what the link cannot carry in the socket buffers
 * (the gateway cannot see that queue); the receiver reports its late frames and the gateway steps
 * it down (layer-step.ts). The gateway runs in this process (embedded), listening on the pair's
 * host address; the step is timed by polling its metric, since the receiver itself learns of it
 * only behind the queue.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { PeerSummary } from '@studioline/client';
import { formatCallLink } from '@studioline/protocol';
import { Embedded, metricValue, startEmbedded } from './helpers/embedded.js';
import { ShapedLink, createShapedLink, requireNetns } from './helpers/netns.js';
import { newLink } from './helpers/peers.js';
import { CLI } from './helpers/processes.js';
import { SETTLE_MS } from '@studioline/gateway';

const skip = requireNetns();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The peers send for this long: joining, settling, 4 s throttled, then the calm the step up needs. */
const CALL_SECONDS = 24;
const THROTTLE_MS = 4000;

describe('a receiver behind a throttled link', { skip }, () => {
  let shaped: ShapedLink;
  let server: Embedded;
  before(async () => {
    shaped = createShapedLink();
    server = await startEmbedded({ host: shaped.hostAddress });
  });
  after(async () => {
    await server?.stop();
    shaped?.remove();
  });

  const switches = async (direction: 'down' | 'up') => metricValue(await server.metrics(), 'studioline_gateway_layer_switches_total', { direction });

  /** Polls the gateway's switch count every 50 ms until it reaches `count`; the time it did (ms), or undefined. */
  async function whenSwitched(direction: 'down' | 'up', count: number, timeoutMs: number): Promise<number | undefined> {
    const by = performance.now() + timeoutMs;
    while (performance.now() < by) {
      if ((await switches(direction)) >= count) return performance.now();
      await sleep(50);
    }
    return undefined;
  }

  /** A `studioline peer` process sending a tone (inside the namespace when `netns` is given); resolves with its summary. */
  function cliPeer(link: string, tone: number, netns?: string): { stderr: () => string; done: Promise<PeerSummary> } {
    const args = [CLI, 'peer', link, '--tone', String(tone), '--seconds', String(CALL_SECONDS), '--json'];
    const child = netns ? spawn('ip', ['netns', 'exec', netns, process.execPath, ...args]) : spawn(process.execPath, args);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const done = new Promise<PeerSummary>((resolve, reject) =>
      child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(stdout.trim().split('\n').pop() as string)) : reject(new Error(`peer exited with ${code}: ${stderr}`)))),
    );
    return { stderr: () => stderr, done };
  }

  it('steps down to the compact layer within 1 s, hears its partner with no gap over 60 ms, and steps back up after the throttle lifts', async () => {
    const link = newLink(server.url, server.apiKey);
    const linkText = formatCallLink(link.origin, link.apiKey, link.leaf as string);
    // The receiver inside the namespace; its partner on the host side (its link is not shaped).
    // Both are full-rate peers, so both send the compact layer beside the full one.
    const receiver = cliPeer(linkText, 1000, shaped.name);
    const partner = cliPeer(linkText, 440);
    const joinedBy = performance.now() + 15_000;
    while (!(receiver.stderr().includes('joined the line') && partner.stderr().includes('joined the line')) && performance.now() < joinedBy) await sleep(50);
    assert.ok(receiver.stderr().includes('joined the line'), `the receiver joined: ${receiver.stderr()}`);
    // The gateway probes a peer from SETTLE_MS after its join; a second of probes gives it the link's round trip.
    await sleep(SETTLE_MS + 1000);
    assert.equal(await switches('down'), 0, 'no step down before the throttle');

    const throttledAt = performance.now();
    shaped.throttle('1mbit');
    const downAt = await whenSwitched('down', 1, THROTTLE_MS);
    await sleep(Math.max(0, throttledAt + THROTTLE_MS - performance.now()));
    shaped.lift();
    const liftedAt = performance.now();
    const upAt = await whenSwitched('up', 1, 15_000);

    const [heard, partnerSummary] = await Promise.all([receiver.done, partner.done]);
    const playout = heard.playout?.[0];
    const m = await server.metrics();
    process.stdout.write(
      `# stepped down ${downAt === undefined ? 'never' : `${(downAt - throttledAt).toFixed(0)} ms`} after the throttle, ` +
        `up ${upAt === undefined ? 'never' : `${(upAt - liftedAt).toFixed(0)} ms`} after it lifted; ` +
        `receiver: ${heard.received} frames (${heard.compactReceived} compact), lost ${heard.lost}, longest gap ${heard.longestGap * 10} ms, switches ${JSON.stringify(heard.layerSwitches.map((s) => `${s.layer}:${s.reason}`))}; ` +
        `its jitter buffer: underruns ${playout?.underruns}, concealed ${playout?.concealed}, late ${playout?.late}, dropped ${playout?.drops}; ` +
        `partner switches ${partnerSummary.layerSwitches.length}, skipped ${partnerSummary.skippedLate} late frames of its own; relay ceiling changes ${metricValue(m, 'studioline_relay_ceiling_changes_total')}; ` +
        `gateway drops: slow_reader ${metricValue(m, 'studioline_gateway_frame_drops_total', { reason: 'slow_reader' })}, over_budget ${metricValue(m, 'studioline_gateway_frame_drops_total', { reason: 'over_budget' })}\n`,
    );

    assert.ok(downAt !== undefined && downAt - throttledAt <= 1000, `stepped down within 1 s of the throttle (${downAt === undefined ? 'never' : (downAt - throttledAt).toFixed(0) + ' ms'})`);
    assert.ok(upAt !== undefined, 'stepped back up once the link was calm');
    // One step down, one step up: no flapping, and the partner's untroubled link never switched.
    assert.equal(await switches('down'), 1);
    assert.equal(await switches('up'), 1);
    assert.deepEqual(
      heard.layerSwitches.map((s) => s.layer),
      ['compact', 'full'],
      'the receiver was told of both switches',
    );
    assert.deepEqual(partnerSummary.layerSwitches, [], 'its partner was not switched');
    // What it heard has no hole: one frame clock on both layers, so neither switch lost a frame.
    // The only frames missing are those its partner never sent (a sender that falls behind real
    // time on a loaded machine skips frames, and its counters skip them too).
    assert.ok(heard.lost <= partnerSummary.skippedLate, `lost ${heard.lost}, of which the partner skipped ${partnerSummary.skippedLate}`);
    if (partnerSummary.skippedLate === 0) assert.ok(heard.longestGap * 10 <= 60, `longest gap ${heard.longestGap * 10} ms`);
    assert.ok(heard.compactReceived > 0, 'it heard its partner on the compact layer while stepped down');
    assert.equal(heard.decryptFailed, 0);
    assert.ok(heard.received >= partnerSummary.sent * 0.98, `received ${heard.received} of ${partnerSummary.sent}`);
  });
});
