import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COMPACT_BITRATE_BPS, COMPACT_FRAME_SAMPLES, COMPACT_MAX_PACKET_BYTES, COMPACT_SAMPLE_RATE, FRAME_MS } from '@studioline/protocol';
import { toneSource } from '../src/audio-source.js';
import { CompactPacketizer, DecodedCompactFrame } from '../src/compact-codec.js';
import { nodeOpusCodec } from '../src/opus-node.js';
import { prepareResamplers } from '../src/resampler.js';
import { dominantFrequency } from '../src/signal.js';

/** libopus-wasm makes encoders and decoders asynchronously (the call core makes them well before the first frame). */
const madeAsynchronously = () => new Promise((r) => setTimeout(r, 20));

/** Encodes `frames` 10 ms frames of a tone captured at `rate` into Opus packets, as a sender's call core does. */
async function encodeTone(frequency: number, rate: number, frames: number): Promise<Uint8Array[]> {
  await Promise.all([nodeOpusCodec.prepare(), prepareResamplers()]);
  const packets: Uint8Array[] = [];
  const counters: bigint[] = [];
  const errors: Error[] = [];
  const encoder = nodeOpusCodec.encoder(
    (p, ctr) => {
      packets.push(p);
      counters.push(ctr);
    },
    (e) => errors.push(e),
  );
  await madeAsynchronously();
  const packetizer = new CompactPacketizer(rate, (f, ctr) => encoder.encode(f, ctr));
  const source = toneSource(frequency, rate);
  for (let i = 0; i < frames; i++) packetizer.push(source.frame(i));
  packetizer.close();
  encoder.close();
  assert.deepEqual(errors, []);
  // Packet n is frame n of the capture (one frame clock for every layer): counters 0, 1, 2, ...
  assert.deepEqual(counters, packets.map((_, i) => BigInt(i)));
  return packets;
}

test('the Node codec makes one constant-size packet per 10 ms, from any capture rate', async () => {
  const packets = await encodeTone(1000, 200_000, 200);
  // The resampler's start-up delay may hold back a frame's worth of samples; every other frame makes a packet.
  assert.ok(packets.length >= 199, `${packets.length} packets`);
  const sizes = new Set(packets.map((p) => p.length));
  assert.deepEqual([...sizes], [(COMPACT_BITRATE_BPS * FRAME_MS) / 1000 / 8], 'constant bitrate: 60-byte packets');
  assert.ok(Math.max(...sizes) <= COMPACT_MAX_PACKET_BYTES);
});

test('a receiver rebuilds lost frames from the next packet (FEC) and conceals longer gaps, so no frame is missing', async () => {
  const packets = await encodeTone(1000, COMPACT_SAMPLE_RATE, 300);
  // Lost: lone frames, a pair and a run of four.
  const lost = new Set([20, 47, 48, 90, 150, 151, 152, 153, 200]);
  const out: DecodedCompactFrame[] = [];
  const decoder = nodeOpusCodec.decoder((f) => out.push(f), (e) => assert.fail(e));
  await madeAsynchronously();
  for (let i = 0; i < packets.length; i++) if (!lost.has(i)) decoder.decode(BigInt(i), packets[i]);
  decoder.close();

  assert.deepEqual(out.map((f) => Number(f.ctr)), packets.map((_, i) => i), 'every frame once, in order');
  for (const f of out) assert.equal(f.pcm.length, COMPACT_FRAME_SAMPLES);
  const rebuilt = out.filter((f) => f.source !== 'decoded');
  assert.deepEqual(rebuilt.map((f) => Number(f.ctr)), [...lost]);
  // The last frame of each gap comes from the next packet's FEC (the encoder codes in hybrid mode, which carries it).
  assert.deepEqual(out.filter((f) => f.source === 'fec').map((f) => Number(f.ctr)), [20, 48, 90, 153, 200]);
  const all = new Int16Array(out.length * COMPACT_FRAME_SAMPLES);
  out.forEach((f, i) => all.set(f.pcm, i * COMPACT_FRAME_SAMPLES));
  assert.ok(Math.abs(dominantFrequency(all, COMPACT_SAMPLE_RATE) - 1000) < 1);
  // The rebuilt frames carry the tone (FEC's copy nearly at full level), not silence; concealment
  // fades over a run of losses, as it should.
  const rms = (pcm: Int16Array) => Math.sqrt(pcm.reduce((s, v) => s + v * v, 0) / pcm.length);
  for (const f of rebuilt) assert.ok(rms(f.pcm) > (f.source === 'fec' ? 1000 : 100), `frame ${f.ctr} (${f.source}) rms ${rms(f.pcm).toFixed(0)}`);
  // A lone lost frame comes back from FEC at the tone's level (within 10 %): its loss is not heard.
  const level = rms(out[10].pcm);
  for (const f of rebuilt.filter((r) => [20, 90, 200].includes(Number(r.ctr)))) assert.ok(Math.abs(rms(f.pcm) / level - 1) < 0.1, `frame ${f.ctr}: ${rms(f.pcm).toFixed(0)} against ${level.toFixed(0)}`);
});

test('a gap longer than 100 ms is an outage: the frames after it are decoded, the gap stays', async () => {
  const packets = await encodeTone(440, COMPACT_SAMPLE_RATE, 60);
  const out: DecodedCompactFrame[] = [];
  const decoder = nodeOpusCodec.decoder((f) => out.push(f), (e) => assert.fail(e));
  await madeAsynchronously();
  for (let i = 0; i < packets.length; i++) if (i < 10 || i >= 30) decoder.decode(BigInt(i), packets[i]);
  decoder.close();
  assert.equal(out.length, packets.length - 20);
  assert.ok(out.every((f) => f.source === 'decoded'));
});
