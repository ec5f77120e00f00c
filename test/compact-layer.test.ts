/**
 * The compact layer (issue 13, item 1) end to end, on the embedded server: `mobile=1` and full-rate
 * Node peers on one line hear each other; a mobile receiver's download per speaker, counted at its
 * socket (a TCP proxy in front of it counts every byte it reads); what the compact layer adds to a
 * full-rate sender's upload; 5 % random loss on the compact layer concealed; and the gateway's and
 * relay's limits on layers, enforced and counted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CallRecorder, CallSocket, NodePeer, PeerSummary, RecordedTrack, SocketFactory, dominantFrequency, nodeSocketFactory, toneShare, toneSource } from '@studioline/client';
import {
  COMPACT_BUDGET_BPS,
  COMPACT_SAMPLE_RATE,
  FRAME_MS,
  FrameSealer,
  LAYER_COMPACT,
  LAYER_FULL,
  MAX_COMPACT_WIRE_FRAME_BYTES,
  STUDIO_SAMPLE_RATE,
  decodeHeader,
  encodeOpusFrame,
  formatCallLink,
  parseCallLink,
} from '@studioline/protocol';
import { Embedded, metricValue, startEmbedded } from './helpers/embedded.js';
import { newLink, rawJoin, tonePeer, waitFor } from './helpers/peers.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

/** The same line as `link`, as a `mobile=1` link to `url`. */
function mobileLink(link: ReturnType<typeof newLink>, url: string) {
  return parseCallLink(formatCallLink(url, link.apiKey, link.leaf as string, true));
}

function mobilePeer(link: ReturnType<typeof newLink>, frequency: number, seconds: number, extra: Partial<ConstructorParameters<typeof NodePeer>[0]> = {}): NodePeer {
  return new NodePeer({ link, source: toneSource(frequency, COMPACT_SAMPLE_RATE), seconds, record: true, peerTimeoutMs: 20_000, ...extra });
}

/** The track of the sender whose tone is `frequency`. */
function trackOf(summary: PeerSummary, frequency: number): RecordedTrack {
  const track = summary.tracks?.find((t) => Math.abs(dominantFrequency(t.samples, t.sampleRate) - frequency) < 2);
  assert.ok(track, `a track at ${frequency} Hz among ${summary.tracks?.map((t) => `${dominantFrequency(t.samples, t.sampleRate).toFixed(0)} Hz @ ${t.sampleRate}`).join(', ')}`);
  return track;
}

/** The longest run of exact zeros in a track, in samples: a missing frame is recorded as silence. */
function longestZeroRun(samples: Int16Array): number {
  let longest = 0;
  let run = 0;
  for (let i = 0; i < samples.length; i++) {
    run = samples[i] === 0 ? run + 1 : 0;
    if (run > longest) longest = run;
  }
  return longest;
}

/** Seeded (mulberry32): the same frames are lost on every run. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A websocket whose received audio frames are lost at random (seeded), before the call core sees
 * them: the test's receive path. It notes the counter of each (the SFrame header is in clear).
 */
function lossySockets(share: number, seed: number, lost: { count: number; ctrs: Set<bigint> }): SocketFactory {
  const random = seededRandom(seed);
  const inner = nodeSocketFactory({});
  return (url, onRefused) => {
    const ws = inner(url, onRefused);
    let handler: CallSocket['onmessage'] = null;
    const socket: CallSocket = {
      get readyState() {
        return ws.readyState;
      },
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
      send: (data) => ws.send(data),
      close: (code, reason) => ws.close(code, reason),
      get onopen() {
        return ws.onopen;
      },
      set onopen(h) {
        ws.onopen = h;
      },
      get onerror() {
        return ws.onerror;
      },
      set onerror(h) {
        ws.onerror = h;
      },
      get onclose() {
        return ws.onclose;
      },
      set onclose(h) {
        ws.onclose = h;
      },
      get onmessage() {
        return handler;
      },
      set onmessage(h) {
        handler = h;
        ws.onmessage = h
          ? (event) => {
              if (typeof event.data !== 'string' && random() < share) {
                const wire = event.data as Uint8Array; // ws hands binary messages over as Buffers
                lost.count++;
                lost.ctrs.add(decodeHeader(wire, 1)?.ctr ?? -1n);
                return;
              }
              h(event);
            }
          : null;
      },
    };
    return socket;
  };
}

describe('the compact layer', () => {
  let server: Embedded;
  before(async () => {
    server = await startEmbedded({ lineCapacity: 3 });
  });
  after(() => server?.stop());

  const drops = async (name: string, reason: string) => metricValue(await server.metrics(), name, { reason });

  it('a mobile peer and two full-rate peers hear each other; the mobile one downloads under 0.13 Mbit/s per speaker', async (t) => {
    const link = newLink(server.url, server.apiKey);
    // The mobile peer reaches the gateway through a proxy that counts what its socket reads.
    const proxy = await startTcpProxy(Number(new URL(server.url).port));
    try {
      const seconds = 6;
      const noLayer0 = await drops('studioline_relay_frame_drops_total', 'no_layer');
      // The mobile peer joins first, so it hears every frame of the others.
      let joined!: () => void;
      const mobileJoined = new Promise<void>((resolve) => (joined = resolve));
      // Tracks only, no mix: mixing 48 kHz and 200 kHz tracks converts seconds of audio at once, which
      // would stall this process (and the others' calls in it) when the first peer finishes.
      const [heardByA, heardByB, heardByM] = [new CallRecorder(), new CallRecorder(), new CallRecorder()];
      const mobile = mobilePeer(mobileLink(link, `http://127.0.0.1:${proxy.port}`), 2500, seconds, { record: false, sinks: [heardByM], onProgress: (say) => say.startsWith('joined') && joined() }).run();
      await Promise.race([mobileJoined, mobile]);
      const [a, b, m] = await Promise.all([
        tonePeer(link, 440, seconds, { compact: true, record: false, sinks: [heardByA] }).run(),
        tonePeer(link, 1000, seconds, { compact: true, record: false, sinks: [heardByB] }).run(),
        mobile,
      ]);
      a.tracks = heardByA.tracks();
      b.tracks = heardByB.tracks();
      m.tracks = heardByM.tracks();
      const downloaded = proxy.bytesToClients();
      t.diagnostic(`sent: a ${a.sent} (${a.compactSent} compact, unsent ${a.unsent}, late ${a.skippedLate}), b ${b.sent} (${b.compactSent} compact, unsent ${b.unsent}); m received ${m.received}, sent ${m.sent}; a received ${a.received}`);

      // Each hears the others at the right frequency: the full-rate peers each other at full rate, the mobile one at 48 kHz.
      assert.equal(trackOf(a, 1000).sampleRate, STUDIO_SAMPLE_RATE, 'a full-rate peer still gets full rate from another');
      assert.equal(trackOf(b, 440).sampleRate, STUDIO_SAMPLE_RATE);
      assert.equal(trackOf(a, 2500).sampleRate, COMPACT_SAMPLE_RATE, 'and the mobile peer through its compact layer');
      assert.equal(trackOf(b, 2500).sampleRate, COMPACT_SAMPLE_RATE);
      assert.equal(trackOf(m, 440).sampleRate, COMPACT_SAMPLE_RATE, 'the mobile peer hears the full-rate peers through their compact layer');
      assert.equal(trackOf(m, 1000).sampleRate, COMPACT_SAMPLE_RATE);
      assert.equal(m.received, m.compactReceived, 'the mobile peer received nothing but compact frames');
      assert.equal(m.sent, m.compactSent, 'and sent nothing else');
      assert.equal(m.bytesSent, m.compactBytesSent);
      // It joined first: it heard every compact frame the others sent (a busy machine may make them skip some, never lose them).
      assert.equal(m.received, a.compactSent + b.compactSent);
      assert.ok(m.received > 2 * 100, `mobile peer received ${m.received} frames`);
      for (const s of [a, b, m]) assert.equal(s.decryptFailed + s.malformed, 0);

      // Download per speaker at the mobile peer's socket: every byte it read (the upgrade, control messages,
      // websocket framing, audio) over the speaker-seconds of audio it received.
      const speakerSeconds = (m.received * FRAME_MS) / 1000;
      const perSpeakerBps = (downloaded * 8) / speakerSeconds;
      // What the compact layer adds to a full-rate sender's upload (wire frames, as the gateway counts them).
      const fullBytes = a.bytesSent - a.compactBytesSent;
      const extraUpload = a.compactBytesSent / fullBytes;
      t.diagnostic(`mobile peer read ${downloaded} bytes at its socket for ${m.received} frames (${speakerSeconds.toFixed(2)} speaker-seconds): ${(perSpeakerBps / 1000).toFixed(1)} kbit/s per speaker (budget ${COMPACT_BUDGET_BPS / 1000})`);
      t.diagnostic(`full-rate peer sent ${a.sent} full frames (${fullBytes} B) and ${a.compactSent} compact frames (${a.compactBytesSent} B, ${(a.compactBytesSent / a.compactSent).toFixed(1)} B each): +${(extraUpload * 100).toFixed(2)} % upload`);
      assert.ok(perSpeakerBps <= COMPACT_BUDGET_BPS, `${perSpeakerBps} bit/s per speaker`);
      assert.ok(Math.abs(a.compactSent - a.sent) <= 2, 'one compact frame per full frame');
      assert.ok(extraUpload > 0.01 && extraUpload < 0.03, `the compact layer adds ${(extraUpload * 100).toFixed(2)} % to the upload`);
      assert.equal(await drops('studioline_relay_frame_drops_total', 'no_layer'), noLayer0, 'every receiver had a layer of every sender');
    } finally {
      await proxy.close();
    }
  });

  it('5 % random loss on the compact layer is concealed: FEC rebuilds the lost frames, no gap over one frame in the recording', async (t) => {
    const link = newLink(server.url, server.apiKey);
    const lost = { count: 0, ctrs: new Set<bigint>() };
    const heard = new Set<bigint>();
    const seconds = 8;
    const serverDrops = async () => {
      const text = await server.metrics();
      return metricValue(text, 'studioline_gateway_frame_drops_total') + metricValue(text, 'studioline_relay_frame_drops_total');
    };
    const drops0 = await serverDrops();
    const [a, m] = await Promise.all([
      tonePeer(link, 440, seconds, { compact: true, record: false }).run(),
      mobilePeer(mobileLink(link, server.url), 1000, seconds, { socket: lossySockets(0.05, 13, lost), playout: true, sinks: [{ push: (f) => heard.add(f.ctr) }] }).run(),
    ]);
    const dropped = (await serverDrops()) - drops0;
    const track = trackOf(m, 440);
    const gap = longestZeroRun(track.samples);
    const jitter = m.playout?.find((p) => p.sender === track.sender);
    const first = [...heard].reduce((x, y) => (y < x ? y : x));
    const last = [...heard].reduce((x, y) => (y > x ? y : x));
    const inside = [...lost.ctrs].filter((c) => c > first && c < last);
    t.diagnostic(`lost ${lost.count} of ${m.received + lost.count} frames on purpose (${inside.length} inside the stream); rebuilt ${m.fecRecovered} from FEC, concealed ${m.plcConcealed}; track ${track.frames} frames, ${track.missing} missing (server drops ${dropped}), longest silence ${gap} samples (${((gap / COMPACT_SAMPLE_RATE) * 1000).toFixed(2)} ms); jitter buffer: played ${jitter?.played}, concealed ${jitter?.concealed}, late ${jitter?.late}, underruns ${jitter?.underruns}`);
    assert.ok(lost.count >= 20, `the test lost ${lost.count} frames`);
    assert.ok(m.fecRecovered > lost.count / 2, 'most lost frames came back through FEC');
    // Every frame the test lost between the first and last heard is in the recording, rebuilt
    // (frames lost before the first or after the last have no neighbour to rebuild them from).
    assert.deepEqual(inside.filter((c) => !heard.has(c)), [], 'every lost frame was rebuilt');
    assert.ok(m.fecRecovered + m.plcConcealed >= inside.length);
    // A busy machine can make the server drop frames itself (counted); what is missing beyond the
    // test's own losses is no more than that, and with none of those there is no gap at all.
    assert.ok(track.missing <= dropped, `${track.missing} frames missing, ${dropped} dropped by the server`);
    if (dropped === 0) assert.ok(gap <= COMPACT_SAMPLE_RATE * (FRAME_MS / 1000), `a gap of ${gap} samples in the recording`);
    assert.ok(toneShare(track.samples, track.sampleRate, 440) > 0.9, 'the tone came through');
    assert.equal(a.received + dropped, m.sent, 'the other way, nothing was lost but what the server counted');
  });

  it('a mobile receiver never gets the full layer: a sender without a compact layer is not forwarded to it, and that is counted', async () => {
    const link = newLink(server.url, server.apiKey);
    const noLayer0 = await drops('studioline_relay_frame_drops_total', 'no_layer');
    const [full, m] = await Promise.all([tonePeer(link, 440, 2, { compact: false }).run(), mobilePeer(mobileLink(link, server.url), 1000, 2).run()]);
    assert.equal(m.received, 0);
    assert.ok(full.received > 150, 'the full-rate peer hears the mobile one');
    assert.ok((await drops('studioline_relay_frame_drops_total', 'no_layer')) - noLayer0 >= full.sent - 5);
  });

  it('the gateway drops, counts and warns about compact frames over the bound and frames of layers a peer did not declare', async () => {
    const link = newLink(server.url, server.apiKey);
    const mobile = await rawJoin(link, { layers: { layers: ['compact'], receive: 'compact' } });
    const listener = await rawJoin(link);
    await waitFor(() => mobile.messages.some((m) => m.type === 'joined') && listener.messages.some((m) => m.type === 'joined'), 5000, 'both joined');
    const leaf = link.leafBytes as Uint8Array;
    const compact = await FrameSealer.create(leaf, mobile.sender, LAYER_COMPACT);
    const full = await FrameSealer.create(leaf, mobile.sender, LAYER_FULL);
    const listenerCompact = await FrameSealer.create(leaf, listener.sender, LAYER_COMPACT);
    const before = { big: await drops('studioline_gateway_frame_drops_total', 'compact_too_big'), wrong: await drops('studioline_gateway_frame_drops_total', 'wrong_layer') };

    const tooBig = await compact.seal(0, encodeOpusFrame(new Uint8Array(MAX_COMPACT_WIRE_FRAME_BYTES)));
    assert.ok(tooBig.length > MAX_COMPACT_WIRE_FRAME_BYTES);
    mobile.ws.send(tooBig);
    mobile.ws.send(await full.seal(0, new Uint8Array(4006))); // a mobile peer declared the compact layer only
    listener.ws.send(await listenerCompact.seal(0, encodeOpusFrame(new Uint8Array(60)))); // declared the full layer only
    const fits = await compact.seal(0, encodeOpusFrame(new Uint8Array(MAX_COMPACT_WIRE_FRAME_BYTES - 40)));
    assert.ok(fits.length <= MAX_COMPACT_WIRE_FRAME_BYTES);
    mobile.ws.send(fits);

    await waitFor(() => listener.frames.count === 1, 5000, 'the frame within the bound delivered');
    await waitFor(() => mobile.messages.some((m) => m.type === 'error' && m.code === 'malformed_frame'), 5000, 'a warning in words');
    assert.equal(await drops('studioline_gateway_frame_drops_total', 'compact_too_big'), before.big + 1);
    assert.equal(await drops('studioline_gateway_frame_drops_total', 'wrong_layer'), before.wrong + 2);
    assert.equal(mobile.frames.count, 0, 'the listener sent nothing that passed');

    // A sender of many frames within the bound is held to the compact budget over the budget window
    // (1 s): 300 frames of about 130 bytes at once are 39 kB, 130 kbit/s is 16.25 kB of socket bytes.
    const overBudget0 = await drops('studioline_gateway_frame_drops_total', 'compact_over_budget');
    const delivered0 = listener.frames.count;
    const burst: Uint8Array[] = [];
    for (let i = 0; i < 300; i++) burst.push(await compact.seal(0, encodeOpusFrame(new Uint8Array(100))));
    for (const f of burst) mobile.ws.send(f);
    const counted = async () => (await drops('studioline_gateway_frame_drops_total', 'compact_over_budget')) - overBudget0;
    for (let i = 0; i < 100 && listener.frames.count - delivered0 + (await counted()) < 300; i++) await new Promise((r) => setTimeout(r, 50));
    const passed = listener.frames.count - delivered0;
    const smallest = Math.min(...burst.map((f) => f.length));
    assert.equal(passed + (await counted()), 300, 'each frame delivered or dropped and counted');
    assert.ok(passed * (smallest + 4) <= COMPACT_BUDGET_BPS / 8, `${passed} frames of ${smallest}+ bytes passed within one window`);
    assert.ok(passed >= 100, `${passed} frames passed`);
    mobile.ws.close();
    listener.ws.close();
  });
});
