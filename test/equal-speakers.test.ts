/**
 * Issue 13 item 3, end to end: an 8-peer line (the host's link asks for 8: `peers=8`) over two
 * gateways and a relay, in memory and on a real Redis, with all 8 Node peers speaking at the same
 * level. Every listener receives exactly 2 streams (RELAY_MAX_SPEAKERS), each with at least 99.9 %
 * of its frames, and no listener goes over its budget; then one peer turns 12 dB louder and every
 * listener hears it within 300 ms of its louder audio.
 *
 * Measured from frames, not from the clock: the takeover is the number of the louder sender's
 * frames (by SFrame counter, from the sender's own record of what it sent) between its first
 * louder frame and the first one a listener received, times 10 ms. The windows in which streams
 * are counted are chosen from the senders' send times, then compared counter by counter.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AudioSource, FrameSink, NodePeer, PeerSummary, ReceivedFrame, toneSource } from '@studioline/client';
import { CallLink, STUDIO_SAMPLE_RATE, formatCallLink, generateLeaf, parseCallLink } from '@studioline/protocol';
import { metricValue } from './helpers/embedded.js';
import { redisForFile } from './helpers/redis.js';
import { BackendKind, startTwoGateways } from './helpers/two-gateways.js';
import { waitFor } from './helpers/peers.js';

const PEERS = 8;
const SPEAKERS = 2; // RELAY_MAX_SPEAKERS' default
const SECONDS = 9;
/** The last peer turns louder with its frame of this index (4 s into its call). */
const LOUDER_AT = 400;
const QUIET = 0.15;
const LOUD = 0.6; // 4 x the amplitude: 12 dB

interface Heard {
  /** sender id -> counters received */
  bySender: Map<bigint, Set<bigint>>;
}

interface Sent {
  senderId?: bigint;
  /** counter -> when it went to the socket (performance.now()) */
  at: Map<bigint, number>;
  firstLoudCtr?: bigint;
}

function recordingSink(heard: Heard): FrameSink {
  return {
    push(frame: ReceivedFrame) {
      let set = heard.bySender.get(frame.senderId);
      if (!set) heard.bySender.set(frame.senderId, (set = new Set()));
      set.add(frame.ctr);
    },
  };
}

/** A tone whose amplitude rises from QUIET to LOUD at frame `louderAt` (never, by default); notes which frame it made last. */
function tone(hz: number, louderAt = Infinity): AudioSource & { lastIndex: number } {
  const quiet = toneSource(hz, STUDIO_SAMPLE_RATE, QUIET);
  const loud = toneSource(hz, STUDIO_SAMPLE_RATE, LOUD);
  const source = {
    sampleRate: STUDIO_SAMPLE_RATE,
    lastIndex: -1,
    frame(index: number) {
      source.lastIndex = index;
      return index >= louderAt ? loud.frame(index) : quiet.frame(index);
    },
  };
  return source;
}

async function eightEqualSpeakers(kind: BackendKind, diagnostic: (s: string) => void): Promise<void> {
  // Two full-rate streams use 92 % of a listener's 7 Mbit/s budget. On this shared 2-core machine
  // the test process (8 peers, 2 gateways, the relay) stalls for a few hundred ms at times, and a
  // stall bunches frames: with the default 1 s budget window the 8 % headroom absorbs only 80 ms of
  // a bunch. A 5 s window still holds every listener to the budget (over any 5 s) and absorbs those.
  // For the same stalls (seconds, at a load of 12 on 2 cores), the peers' sockets may hold more
  // than 0.65 s unread and miss a ping: those limits are raised here, as they are not under test.
  const deployment = await startTwoGateways(kind, { budgetWindowMs: 5000, slowReaderBytes: 2 * 1024 * 1024, pingIntervalMs: 30_000 });
  try {
    const leaf = generateLeaf();
    // The host's link asks for a line of 8; the server's LINE_CAPACITY stays 2.
    const links: CallLink[] = deployment.urls.map((url) => parseCallLink(formatCallLink(url, deployment.apiKey, leaf, false, PEERS))) as CallLink[];
    const heard: Heard[] = Array.from({ length: PEERS }, () => ({ bySender: new Map() }));
    const sent: Sent[] = Array.from({ length: PEERS }, () => ({ at: new Map() }));
    const runs: Promise<PeerSummary>[] = [];
    // Every peer stops by itself after SECONDS; this bounds the call even if one is stuck.
    const abort = new AbortController();
    const guard = setTimeout(() => abort.abort(), (SECONDS + 40) * 1000);
    const start = (i: number) => {
      // Frequencies with a whole number of cycles per 10 ms frame: every frame has exactly the same level.
      const source = tone(400 + 100 * i, i === PEERS - 1 ? LOUDER_AT : Infinity);
      const peer = new NodePeer({
        link: links[i % 2],
        source,
        seconds: SECONDS,
        peerTimeoutMs: 20_000,
        sinks: [recordingSink(heard[i])],
        signal: abort.signal,
        onSent: (senderId, ctr, at) => {
          const s = sent[i];
          s.senderId = senderId;
          s.at.set(ctr, at);
          if (s.firstLoudCtr === undefined && source.lastIndex >= LOUDER_AT && i === PEERS - 1) s.firstLoudCtr = ctr;
        },
      });
      runs.push(peer.run());
    };
    // The relay's count of selection changes, sampled while the call runs (the peers leaving at
    // the end change the seats too).
    const changeSamples: { at: number; value: number }[] = [];
    const sampler = setInterval(() => {
      const at = performance.now();
      void deployment.relayMetrics().then((text) => changeSamples.push({ at, value: metricValue(text, 'studioline_relay_speaker_changes_total', { layer: 'full' }) }));
    }, 100);
    sampler.unref();
    // Seven first, so the seats (2 speakers and a reserve) go to three of them; then the eighth.
    for (let i = 0; i < PEERS - 1; i++) start(i);
    await waitFor(() => sent.slice(0, PEERS - 1).every((s) => s.at.size > 0), 20_000, 'the first seven peers sending');
    start(PEERS - 1);
    const summaries = await Promise.all(runs).finally(() => {
      clearInterval(sampler);
      clearTimeout(guard);
    });
    assert.ok(!abort.signal.aborted, 'every peer finished its call by itself');
    for (const [i, s] of summaries.entries()) {
      assert.equal(s.decryptFailed + s.replayed + s.malformed, 0, `peer ${i}: no bad frame`);
      assert.equal(s.reconnects, 0, `peer ${i} never reconnected`);
    }

    // What the servers dropped, by reason (for the record, and for a failure's diagnosis).
    const drops: string[] = [];
    for (const g of [0, 1] as const) {
      const text = await deployment.metrics(g);
      for (const reason of ['over_budget', 'slow_reader', 'bus_down', 'no_route', 'not_joined', 'unknown_conn']) {
        const n = metricValue(text, 'studioline_gateway_frame_drops_total', { reason });
        if (n) drops.push(`gateway ${g} ${reason} ${n}`);
      }
    }
    const relayText = await deployment.relayMetrics();
    for (const reason of ['not_loudest', 'bus_down', 'unknown_member']) drops.push(`relay ${reason} ${metricValue(relayText, 'studioline_relay_frame_drops_total', { reason })}`);
    for (const g of [0, 1] as const) for (const direction of ['in', 'out']) drops.push(`gateway ${g} over budget ${direction} ${metricValue(await deployment.metrics(g), 'studioline_gateway_budget_exceeded_total', { direction })}`);
    diagnostic(`bytes per frame sent ${(summaries[0].bytesSent / summaries[0].sent).toFixed(0)}, received per second ${summaries.map((s) => ((s.bytesReceived * 8) / SECONDS / 1e6).toFixed(2)).join(' ')} Mbit/s`);
    diagnostic(`drops: ${drops.join(', ')}; peers' losses ${summaries.map((s) => s.lost).join(' ')}, unsent ${summaries.map((s) => s.unsent).join(' ')}`);

    const loud = sent[PEERS - 1];
    assert.ok(loud.firstLoudCtr !== undefined, 'the last peer turned louder');
    const changeAt = loud.at.get(loud.firstLoudCtr)!;
    const allSending = Math.max(...sent.map((s) => Math.min(...s.at.values())));
    const firstStop = Math.min(...sent.map((s) => Math.max(...s.at.values())));
    const idOf = (i: number) => sent[i].senderId!;

    /** Per listener, the senders heard among frames sent in [from, to), and the share of them received. */
    const streams = (from: number, to: number) =>
      heard.map((h, listener) => {
        const out: { sender: number; share: number; frames: number }[] = [];
        for (let x = 0; x < PEERS; x++) {
          if (x === listener) continue;
          const window = [...sent[x].at].filter(([, at]) => at >= from && at < to).map(([ctr]) => ctr);
          const got = h.bySender.get(idOf(x));
          const received = window.filter((ctr) => got?.has(ctr)).length;
          if (received > 0) out.push({ sender: x, share: received / window.length, frames: window.length });
        }
        return out;
      });

    // Equal voices: from half a second after all eight send to just before the change.
    const equal = streams(allSending + 500, changeAt - 50);
    let worst = 1;
    for (const [listener, s] of equal.entries()) {
      assert.equal(s.length, SPEAKERS, `listener ${listener} received ${s.length} streams (${s.map((x) => x.sender)}) while all spoke equally`);
      for (const x of s) {
        worst = Math.min(worst, x.share);
        assert.ok(x.share >= 0.999, `listener ${listener} got ${(x.share * 100).toFixed(2)} % of peer ${x.sender}'s ${x.frames} frames`);
      }
    }
    diagnostic(`equal voices (${((changeAt - 50 - allSending - 500) / 1000).toFixed(1)} s): every listener ${SPEAKERS} streams; worst delivered share ${(worst * 100).toFixed(2)} %`);

    // The louder voice: every listener that did not hear it before hears it within 300 ms of its louder audio.
    let slowest = 0;
    for (let listener = 0; listener < PEERS - 1; listener++) {
      const got = [...(heard[listener].bySender.get(idOf(PEERS - 1)) ?? [])].filter((ctr) => ctr >= loud.firstLoudCtr!);
      assert.ok(got.length > 0, `listener ${listener} heard the louder peer`);
      const first = got.reduce((a, b) => (b < a ? b : a));
      const heardBefore = equal[listener].some((x) => x.sender === PEERS - 1);
      if (!heardBefore) slowest = Math.max(slowest, Number(first - loud.firstLoudCtr!) * 10);
    }
    diagnostic(`takeover: every listener heard the 12 dB louder peer ${slowest} ms of its audio after it got louder`);
    assert.ok(slowest <= 300, `takeover after ${slowest} ms`);

    // After the change: still exactly 2 streams per listener, one of them the louder peer.
    const after = streams(changeAt + 500, firstStop - 200);
    for (const [listener, s] of after.entries()) {
      assert.equal(s.length, SPEAKERS, `listener ${listener} after the change: ${s.map((x) => x.sender)}`);
      for (const x of s) assert.ok(x.share >= 0.999, `listener ${listener} got ${(x.share * 100).toFixed(2)} % of peer ${x.sender}`);
      if (listener !== PEERS - 1) assert.ok(s.some((x) => x.sender === PEERS - 1), `listener ${listener} hears the louder peer`);
    }

    // Within budget: no frame over any peer's budget on either gateway; the seats changed 3 + 1 times.
    let overBudget = 0;
    for (const g of [0, 1] as const) overBudget += metricValue(await deployment.metrics(g), 'studioline_gateway_budget_exceeded_total');
    const changes = changeSamples.filter((s) => s.at < firstStop - 100).at(-1)?.value;
    diagnostic(`frames over budget ${overBudget}; selection changes ${changes}`);
    assert.equal(overBudget, 0);
    assert.equal(changes, 4, 'three seats taken once, one takeover, no flapping');
  } finally {
    await deployment.stop();
  }
}

const redis = redisForFile();

describe('8 equal speakers on one line (issue 13 item 3)', { timeout: 120_000 }, () => {
  it('in memory, over two gateways', async (t) => {
    await eightEqualSpeakers('memory', (s) => t.diagnostic(s));
  });
  it('on Redis, over two gateways', { skip: redis.skip }, async (t) => {
    const r = redis.get();
    await eightEqualSpeakers({ redisUrl: r.url, prefix: r.prefix() }, (s) => t.diagnostic(s));
  });
});
