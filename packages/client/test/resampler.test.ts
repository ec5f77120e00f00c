import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Resampler, ResamplerError, prepareResamplers, resample } from '../src/resampler.js';

/** `seconds` of a sine at `frequency`, amplitude `amp`, sampled at `rate`, as 16-bit PCM. */
function tone(frequency: number, rate: number, seconds: number, amp = 0.5): Int16Array {
  const out = new Int16Array(Math.round(rate * seconds));
  for (let i = 0; i < out.length; i++) out[i] = Math.round(amp * 32767 * Math.sin((2 * Math.PI * frequency * i) / rate));
  return out;
}

/** RMS level in dB relative to full scale, skipping `skip` samples at each end (the filter's edges). */
function rmsDb(x: ArrayLike<number>, skip: number, scale = 1): number {
  let sum = 0;
  for (let i = skip; i < x.length - skip; i++) sum += (x[i] / scale) ** 2;
  return 10 * Math.log10(sum / (x.length - 2 * skip));
}

/** Feeds `pcm` through a streaming Resampler in 10 ms frames and joins the output. */
async function streamed(pcm: Int16Array, from: number, to: number): Promise<Float32Array> {
  await prepareResamplers();
  const r = new Resampler(from, to);
  const step = from / 100;
  const parts: Float32Array[] = [];
  for (let at = 0; at < pcm.length; at += step) parts.push(r.process(pcm.subarray(at, at + step)));
  r.close();
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

test('a 1 kHz tone passes within 0.1 dB, whichever way the rates go', async () => {
  for (const [from, to] of [[200_000, 48_000], [48_000, 200_000], [200_000, 192_000], [44_100, 48_000], [200_000, 44_100]]) {
    const input = tone(1000, from, 0.5);
    const out = await streamed(input, from, to);
    const gain = rmsDb(out, to / 50) - rmsDb(input, from / 50, 32768);
    assert.ok(Math.abs(gain) < 0.1, `${from} -> ${to} Hz changed a 1 kHz tone by ${gain.toFixed(3)} dB`);
    // The whole stream comes out, less the filter's lag of well under a millisecond.
    const expected = (input.length * to) / from;
    assert.ok(out.length <= expected && out.length > expected - to / 1000, `${from} -> ${to}: ${out.length} samples for ${expected}`);
  }
});

test('a 30 kHz tone captured at 200 kHz is attenuated by at least 60 dB at 48 kHz (no 18 kHz alias)', async () => {
  const input = tone(30_000, 200_000, 0.5);
  const out = await streamed(input, 200_000, 48_000);
  const attenuation = rmsDb(input, 2000, 32768) - rmsDb(out, 480);
  assert.ok(attenuation >= 60, `only ${attenuation.toFixed(1)} dB down`);
  // The one-shot helper filters the same way.
  const once = await resample(input, 200_000, 48_000);
  assert.ok(rmsDb(input, 2000, 32768) - rmsDb(once, 480) >= 60);
});

test('frame-by-frame output equals one-shot output: no click at a frame boundary', async () => {
  // A chirp sweeping 100 Hz - 15 kHz exercises every phase of the filter at every boundary.
  const rate = 200_000;
  const input = new Int16Array(rate / 2);
  for (let i = 0; i < input.length; i++) {
    const t = i / rate;
    input[i] = Math.round(16000 * Math.sin(2 * Math.PI * (100 * t + ((15_000 - 100) / (2 * 0.5)) * t * t)));
  }
  for (const to of [48_000, 44_100, 96_000]) {
    const stream = await streamed(input, rate, to);
    const once = await resample(input, rate, to);
    assert.ok(once.length >= stream.length);
    let worst = 0;
    for (let i = 0; i < stream.length; i++) worst = Math.max(worst, Math.abs(stream[i] - once[i]));
    assert.ok(worst < 1e-4, `${rate} -> ${to}: streamed output differs from one-shot by ${worst}`);
  }
});

test('when the spare converters run out, new resamplers hold their input and lose none of it', async () => {
  const input = tone(1000, 200_000, 0.2);
  const reference = await streamed(input, 200_000, 48_000);
  await prepareResamplers();
  // More senders at once than there are spares: some start without a converter.
  const many = Array.from({ length: 5 }, () => new Resampler(200_000, 48_000));
  const outputs = many.map(() => [] as Float32Array[]);
  const feed = (from: number, to: number) => {
    for (let at = from; at < to; at += 2000) many.forEach((r, k) => outputs[k].push(r.process(input.subarray(at, at + 2000))));
  };
  feed(0, 20_000);
  assert.ok(outputs.some((o) => o.every((p) => p.length === 0)), 'expected a resampler to wait for its converter');
  await prepareResamplers();
  await new Promise((r) => setTimeout(r, 10));
  feed(20_000, input.length);
  for (const o of outputs) {
    const total = o.reduce((n, p) => n + p.length, 0);
    assert.equal(total, reference.length);
  }
  many.forEach((r) => r.close());
});

test('impossible rates are refused with a clear error', () => {
  assert.throws(() => new Resampler(0, 48_000), ResamplerError);
  assert.throws(() => new Resampler(48_000, 44_100.5), ResamplerError);
  assert.throws(() => new Resampler(8_000, 8_000 * 300), /ratio/);
});

test('more resamplers made at once than the spare pool holds all get a converter (none holds its input forever)', async () => {
  await prepareResamplers();
  // Six at once: the pool holds two, and a refill loads two; the last ones wait for further refills.
  const many = Array.from({ length: 6 }, () => new Resampler(8000, 48_000));
  try {
    const frame = new Float32Array(160);
    for (let waited = 0; many.some((r) => r.process(frame).length === 0); waited += 20) {
      assert.ok(waited < 20_000, 'every resampler converts within 20 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    for (const r of many) r.close();
  }
});
