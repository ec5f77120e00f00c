/**
 * The jitter buffer fed arrival traces in simulated time: a sender emits 10 ms frames of a
 * continuous 1 kHz tone (or talk spurts), the network delays, drops or stalls them, and the
 * receiver reads 128-sample render quanta at 48 kHz, as an AudioWorklet does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JitterBuffer, JitterBufferStats } from '../src/jitter-buffer.js';

const RATE = 48_000;
const QUANTUM = 128;
const FRAME = 480;
const AMP = 0.5;
/** The steepest step a 1 kHz tone at this amplitude takes between samples; a click is far above it. */
const TONE_SLOPE = 2 * Math.PI * (1000 / RATE) * AMP;

/** A small deterministic PRNG, so a failing trace can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Trace {
  seconds: number;
  /** Network delay of frame n sent at `sentMs`, or undefined when it is lost. */
  delay(n: number, sentMs: number): number | undefined;
  /** Sender clock error, parts per million (positive: the sender runs fast). */
  ppm?: number;
  /** Talk spurts (quiet frames between) instead of a continuous tone. */
  spurts?: boolean;
}

interface Run {
  stats: JitterBufferStats;
  /** [time ms, depth ms, target ms], every 100 ms. */
  samples: [number, number, number][];
  worstStep: number;
  /** The lowest RMS over one period of the tone (48 samples) after the first 2 s, relative to the tone's. */
  weakest: number;
  lost: number;
}

function simulate(trace: Trace): Run {
  const jb = new JitterBuffer({ sampleRate: RATE, quantum: QUANTUM });
  const frameMs = 10 / (1 + (trace.ppm ?? 0) * 1e-6);
  const arrivals: { at: number; n: number }[] = [];
  let lost = 0;
  for (let n = 0; n * frameMs < trace.seconds * 1000; n++) {
    const d = trace.delay(n, n * frameMs);
    if (d === undefined) lost++;
    else arrivals.push({ at: n * frameMs + 5 + d, n });
  }
  arrivals.sort((a, b) => a.at - b.at || a.n - b.n);
  const loud = (n: number) => !trace.spurts || n % 50 < 30;
  const frame = (n: number) => {
    const x = new Float32Array(FRAME);
    if (loud(n)) for (let i = 0; i < FRAME; i++) x[i] = AMP * Math.sin((2 * Math.PI * 1000 * (n * FRAME + i)) / RATE);
    return x;
  };
  const out = new Float32Array(QUANTUM);
  const samples: Run['samples'] = [];
  let next = 0;
  let prev = 0;
  let worstStep = 0;
  let weakest = Infinity;
  const period = new Float32Array(RATE / 1000);
  let periodAt = 0;
  let periodSum = 0;
  const quantumMs = (QUANTUM / RATE) * 1000;
  for (let k = 0; k * quantumMs < trace.seconds * 1000; k++) {
    const now = k * quantumMs;
    while (next < arrivals.length && arrivals[next].at <= now) {
      const a = arrivals[next++];
      jb.push(a.n, frame(a.n), a.at, loud(a.n) ? 9 : 127);
    }
    out.fill(0);
    jb.read(out, now);
    for (let i = 0; i < QUANTUM; i++) {
      worstStep = Math.max(worstStep, Math.abs(out[i] - prev));
      prev = out[i];
      periodSum += out[i] * out[i] - period[periodAt];
      period[periodAt] = out[i] * out[i];
      periodAt = (periodAt + 1) % period.length;
      if (now > 2000) weakest = Math.min(weakest, Math.sqrt(Math.max(0, periodSum) / period.length) / (AMP / Math.SQRT2));
    }
    if (k % Math.round(100 / quantumMs) === 0) samples.push([now, jb.stats.depthMs, jb.stats.targetMs]);
  }
  return { stats: jb.stats, samples, worstStep, weakest, lost };
}

function after(run: Run, ms: number): [number, number, number][] {
  return run.samples.filter(([t]) => t >= ms);
}

function assertNoClick(run: Run): void {
  // A crossfade adds at most (a - b) / 96 per sample to the tone's own slope; a click is a step of 0.1-1.
  assert.ok(run.worstStep < TONE_SLOPE + 0.02, `a click: the output stepped by ${run.worstStep.toFixed(3)} (tone slope ${TONE_SLOPE.toFixed(3)})`);
}

function assertTracksTarget(run: Run, fromMs: number, slackMs: number): void {
  for (const [t, depth, target] of after(run, fromMs)) {
    assert.ok(Math.abs(depth - target) <= slackMs, `at ${(t / 1000).toFixed(1)} s the depth was ${depth.toFixed(1)} ms for a target of ${target.toFixed(1)} ms`);
  }
}

test('steady LAN: within 2 s the buffer sits at its target, no more than a frame, and never runs dry', (t) => {
  const rnd = prng(1);
  // A capture worklet emits on render-quantum boundaries: up to 2.7 ms of jitter, plus a little network.
  const run = simulate({ seconds: 30, delay: () => rnd() * 2.67 + rnd() * 0.3 });
  const settled = after(run, 2000);
  t.diagnostic(`after 2 s: depth ${Math.min(...settled.map((s) => s[1])).toFixed(1)}-${Math.max(...settled.map((s) => s[1])).toFixed(1)} ms, target ${Math.min(...settled.map((s) => s[2])).toFixed(1)}-${Math.max(...settled.map((s) => s[2])).toFixed(1)} ms`);
  for (const [t, depth, target] of settled) {
    assert.ok(target <= 10, `target ${target.toFixed(1)} ms at ${t} ms`);
    assert.ok(depth <= target + 5, `depth ${depth.toFixed(1)} ms over target ${target.toFixed(1)} ms at ${t} ms`);
    assert.ok(depth <= 15, `depth ${depth.toFixed(1)} ms at ${t} ms`);
  }
  assert.equal(run.stats.underruns, 0);
  assert.equal(run.stats.concealed, 0);
  assert.equal(run.stats.late, 0);
  assert.ok(run.stats.played >= 2990);
  assertNoClick(run);
});

test('10 ms of jitter: the target covers it, the depth follows the target, and underruns stay rare', () => {
  const rnd = prng(2);
  const run = simulate({ seconds: 60, delay: () => rnd() * 10 });
  const late = after(run, 5000);
  for (const [t, , target] of late) assert.ok(target >= 9 && target <= 25, `target ${target.toFixed(1)} ms at ${t} ms`);
  assertTracksTarget(run, 5000, 5);
  assert.ok(run.stats.underruns <= 3, `${run.stats.underruns} underruns`);
  assert.ok(run.stats.late <= 3 && run.stats.concealed <= 6, JSON.stringify(run.stats));
  assertNoClick(run);
});

test('a 300 ms stall: one underrun, the stalled frames dropped as late, and the depth back to target', () => {
  const rnd = prng(3);
  // Everything sent during 10.0-10.3 s is held and delivered at once when the stall ends.
  const run = simulate({ seconds: 30, delay: (_n, sent) => (sent >= 10_000 && sent < 10_300 ? 10_300 - sent : 0) + rnd() * 2.67 });
  assert.equal(run.stats.underruns, 1);
  assert.ok(run.stats.late >= 25 && run.stats.late <= 31, `${run.stats.late} late`);
  assert.equal(run.stats.restarts, 0);
  // Back within a second of the stall's end, at a target raised by about a frame...
  for (const [t, depth, target] of after(run, 11_300)) assert.ok(depth <= 30 && target <= 25, `depth ${depth} ms, target ${target} ms at ${t} ms`);
  // ...the depth following it down (in loud audio a cut waits up to a second for a quiet frame)...
  assertTracksTarget(run, 14_000, 5);
  // ...which decays back to the LAN target once calm.
  for (const [, depth, target] of after(run, 25_000)) assert.ok(target <= 10 && depth <= 15, `target ${target}, depth ${depth}`);
  assertNoClick(run);
});

test('5 % loss: each lost frame concealed without a click, and the buffer stays shallow', () => {
  const rnd = prng(4);
  const run = simulate({ seconds: 60, delay: () => (rnd() < 0.05 ? undefined : rnd() * 2.67) });
  assert.ok(run.lost > 200);
  assert.equal(run.stats.concealed, run.lost);
  assert.equal(run.stats.late, 0);
  assert.ok(run.stats.underruns <= 1, `${run.stats.underruns} underruns`);
  for (const [t, depth, target] of after(run, 2000)) assert.ok(depth <= 15 && target <= 10, `depth ${depth.toFixed(1)}, target ${target.toFixed(1)} at ${t} ms`);
  assertNoClick(run);
});

for (const ppm of [100, -100]) {
  test(`${ppm > 0 ? '+' : ''}${ppm} ppm clock drift for 10 minutes: the depth neither grows nor empties`, () => {
    const rnd = prng(5);
    const run = simulate({ seconds: 600, ppm, delay: () => rnd() * 2.67 });
    assertTracksTarget(run, 2000, 5);
    for (const [, depth] of after(run, 2000)) assert.ok(depth > 0 && depth <= 15);
    assert.ok(run.stats.underruns <= 1 && run.stats.late === 0, JSON.stringify(run.stats));
    // 100 ppm of 600 s is 60 ms: that much was cut (sender fast) or stretched (sender slow).
    const adjusted = ppm > 0 ? run.stats.cutMs - run.stats.stretchedMs : run.stats.stretchedMs - run.stats.cutMs;
    assert.ok(adjusted > 50 && adjusted < 70, `adjusted ${adjusted.toFixed(1)} ms`);
    assertNoClick(run);
    // The tone never audibly dips where it was cut or stretched: whole periods were joined in phase.
    assert.ok(run.weakest > 0.97, `the tone dipped to ${(run.weakest * 100).toFixed(1)} % of its level`);
  });
}

test('with talk spurts, drift is absorbed in the quiet frames only', () => {
  const rnd = prng(6);
  const run = simulate({ seconds: 120, ppm: 100, spurts: true, delay: () => rnd() * 2.67 });
  assertTracksTarget(run, 2000, 5);
  assert.equal(run.stats.forced, 0);
  assert.ok(run.stats.cutMs > 8 && run.stats.drops >= 3, `cut ${run.stats.cutMs} ms in ${run.stats.drops} drops`);
});

test('a sender that pauses and comes back (its counter continues) is heard again at once', () => {
  const rnd = prng(7);
  // Frames 1000-1049 are never sent (muted for 0.5 s) but the counter does not skip: shift later ones.
  const run = simulate({ seconds: 20, delay: (n) => (n >= 1000 ? 500 : 0) + rnd() * 2.67 });
  assert.ok(run.stats.restarts <= 1);
  assertTracksTarget(run, 13_000, 5);
  assert.ok(run.stats.played > 1900 - 60, `${run.stats.played} played`);
});

test('the residence it reports is how long frames really wait before they play (the page shows it)', () => {
  // Each frame holds a constant that names it, so the output shows when each frame starts playing.
  const rnd = prng(8);
  const jb = new JitterBuffer({ sampleRate: RATE, quantum: QUANTUM });
  const quantumMs = (QUANTUM / RATE) * 1000;
  const arrived = new Map<number, number>();
  const waits: number[] = [];
  const out = new Float32Array(QUANTUM);
  let n = 0;
  let nextAt = 5;
  let playing = -1;
  let reported = 0;
  for (let k = 0; k * quantumMs < 5000; k++) {
    const now = k * quantumMs;
    while (nextAt <= now) {
      jb.push(n, new Float32Array(FRAME).fill(((n % 50) + 1) / 100), nextAt, 60);
      arrived.set(n, nextAt);
      n++;
      nextAt = n * 10 + 5 + rnd() * 6;
    }
    out.fill(0);
    jb.read(out, now);
    for (let i = 0; i < QUANTUM; i++) {
      const id = Math.round(out[i] * 100) - 1;
      if (id < 0 || id === playing % 50) continue;
      playing = [...arrived.keys()].find((c) => c % 50 === id && c > playing) ?? playing;
      const t = now + (i / RATE) * 1000;
      if (t > 3000) waits.push(t - (arrived.get(playing) as number));
    }
    if (Math.abs(now - 4000) < quantumMs / 2) reported = jb.stats.residenceMs;
  }
  const mean = waits.reduce((a, b) => a + b, 0) / waits.length;
  assert.ok(waits.length > 150);
  assert.ok(Math.abs(mean - reported) < 1, `frames waited ${mean.toFixed(2)} ms on average; the buffer reported ${reported.toFixed(2)} ms`);
});
