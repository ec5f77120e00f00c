/**
 * Issue 13 item 3, in simulated time: the selector of a group line. Equal voices keep their seats
 * (every listener hears exactly N streams, every frame of them), a clearly louder voice takes over
 * within 300 ms of its own audio, a short burst or a small difference does not, a speaker leaving
 * or falling silent gives its seat up, and a line with few senders forwards everyone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HOLD_MS, MARGIN_DB, STALE_MS, SpeakerSelector, Verdict } from '../src/speaker-selection.js';

/** A deterministic generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Run {
  /** heard[listener][sender]: frames of `sender` forwarded to `listener`. */
  heard: Map<string, Map<string, number>>;
  /** Frames each member sent. */
  sent: Map<string, number>;
  /** The first frame index (of the whole run) at which each member was forwarded to everyone. */
  firstAll: Map<string, number>;
  changes: number;
  /** The ticks at which the seats changed. */
  changeTicks: number[];
}

/**
 * Runs `frames` ticks of 10 ms (or `frameMs`): at each tick every member still present sends one
 * frame at `level(member, tick)`, in an order shuffled per tick (frames from different gateways
 * interleave). Counts, per listener, the frames of each sender it would be sent, from tick `from`.
 */
function simulate(options: {
  members: string[];
  speakers: number;
  frames: number;
  level: (member: string, tick: number) => number | undefined;
  from?: number;
  frameMs?: number;
  seed?: number;
  leaves?: Map<number, string>;
}): Run {
  const frameMs = options.frameMs ?? 10;
  let changes = 0;
  let tick = 0;
  const changeTicks: number[] = [];
  const selector = new SpeakerSelector<string>({ speakers: options.speakers, frameMs, onChange: () => (changes++, changeTicks.push(tick)) });
  const rnd = random(options.seed ?? 1);
  const present = new Set(options.members);
  const heard = new Map(options.members.map((m) => [m, new Map<string, number>()]));
  const sent = new Map(options.members.map((m) => [m, 0]));
  const firstAll = new Map<string, number>();
  for (tick = 0; tick < options.frames; tick++) {
    const gone = options.leaves?.get(tick);
    if (gone) {
      present.delete(gone);
      selector.remove(gone);
    }
    // The first frames in member order (p0, p1 take the speaker seats, p2 the reserve), then shuffled.
    const order = tick === 0 ? [...present] : [...present].sort(() => rnd() - 0.5);
    for (const m of order) {
      const level = options.level(m, tick);
      if (level === undefined) continue; // sends nothing this tick
      const verdict: Verdict = selector.observe(m, level, tick * frameMs);
      if (verdict === 'all' && !firstAll.has(m)) firstAll.set(m, tick);
      if (tick < (options.from ?? 0)) continue;
      sent.set(m, (sent.get(m) ?? 0) + 1);
      const to = verdict === 'all' ? [...present] : verdict === 'speakers' ? selector.speakers() : [];
      for (const listener of to) {
        if (listener === m) continue;
        const h = heard.get(listener)!;
        h.set(m, (h.get(m) ?? 0) + 1);
      }
    }
  }
  return { heard, sent, firstAll, changes, changeTicks };
}

const EIGHT = Array.from({ length: 8 }, (_, i) => `p${i}`);

/** Each listener's streams: the senders it heard, and the share of their frames it got. */
function streams(run: Run, listener: string): { sender: string; share: number }[] {
  return [...run.heard.get(listener)!].map(([sender, n]) => ({ sender, share: n / run.sent.get(sender)! }));
}

describe('speaker selection (simulated time)', () => {
  it('8 equal voices: every listener hears exactly 2 streams, each whole, and nobody trades places', () => {
    for (const seed of [1, 2, 3]) {
      const run = simulate({ members: EIGHT, speakers: 2, frames: 3000, level: () => 20, from: 10, seed });
      for (const listener of EIGHT) {
        const s = streams(run, listener);
        assert.equal(s.length, 2, `${listener} hears ${s.map((x) => x.sender).join(', ')}`);
        for (const { sender, share } of s) assert.equal(share, 1, `${listener} gets every frame of ${sender}`);
      }
      assert.equal(run.changes, 3, 'two speaker seats and the reserve taken once each, then never again');
    }
  });

  it('voices a few dB apart (under the margin), jittering frame by frame, keep their seats', () => {
    const rnd = random(7);
    // Speech-like: each voice wanders between 18 and 18 + MARGIN_DB - 1 dB below full scale.
    const run = simulate({ members: EIGHT, speakers: 2, frames: 3000, level: () => 18 + Math.floor(rnd() * MARGIN_DB), from: 10 });
    for (const listener of EIGHT) {
      const s = streams(run, listener);
      assert.equal(s.length, 2);
      for (const { share } of s) assert.ok(share >= 0.999);
    }
    assert.equal(run.changes, 3);
  });

  it('a voice 12 dB over the others takes over within 300 ms of its audio, and every listener then hears it', () => {
    const change = 500;
    const run = simulate({ members: EIGHT, speakers: 2, frames: 1500, level: (m, tick) => (m === 'p7' && tick >= change ? 8 : 20), from: change + 40 });
    const takeoverMs = (run.firstAll.get('p7')! - change) * 10;
    assert.ok(takeoverMs <= 300, `took over after ${takeoverMs} ms`);
    assert.ok(takeoverMs >= HOLD_MS - 10, `not before the hold (${takeoverMs} ms)`);
    for (const listener of EIGHT.filter((m) => m !== 'p7')) {
      const s = streams(run, listener);
      assert.equal(s.length, 2, `${listener}: ${s.map((x) => x.sender)}`);
      assert.ok(s.some((x) => x.sender === 'p7' && x.share === 1), `${listener} hears all of p7`);
    }
    assert.equal(streams(run, 'p7').length, 2, 'the new speaker hears 2 others');
  });

  it('a louder burst shorter than the hold (a cough) takes no seat', () => {
    // 80 ms at 20 dB over the others, every 2 s.
    const run = simulate({ members: EIGHT, speakers: 2, frames: 2000, level: (m, tick) => (m === 'p7' && tick % 200 < 8 ? 0 : 20) });
    assert.equal(run.firstAll.get('p7'), undefined);
    assert.equal(run.changes, 3);
  });

  it('a speaker who leaves: the reserve moves up and the loudest voice without a seat takes the reserve', () => {
    const run = simulate({ members: EIGHT, speakers: 2, frames: 600, level: (m) => (m === 'p5' ? 15 : 20), from: 400, leaves: new Map([[300, 'p0']]) });
    for (const listener of EIGHT.filter((m) => m !== 'p0')) {
      const s = streams(run, listener);
      assert.equal(s.length, 2, `${listener}: ${s.map((x) => x.sender)}`);
      for (const { share } of s) assert.equal(share, 1);
    }
    // p0 (a speaker) left: p2 (the reserve) became a speaker; p5, the loudest without a seat, the reserve.
    assert.deepEqual(streams(run, 'p1').map((x) => x.sender).sort(), ['p2', 'p5']);
    assert.deepEqual(streams(run, 'p7').map((x) => x.sender).sort(), ['p1', 'p2']);
  });

  it('a speaker who stops sending gives its seat up after a second; an equal voice takes it', () => {
    const run = simulate({ members: EIGHT, speakers: 2, frames: 800, from: 400, level: (m, tick) => (m === 'p0' && tick >= 200 ? undefined : 20) });
    const ms = (run.changeTicks.find((t) => t > 200)! - 200) * 10;
    assert.ok(ms >= STALE_MS && ms <= STALE_MS + HOLD_MS + 20, `the first change came ${ms} ms after p0 stopped`);
    for (const listener of EIGHT.filter((m) => m !== 'p0')) {
      const s = streams(run, listener);
      assert.equal(s.length, 2, `${listener}: ${s.map((x) => x.sender)}`);
      for (const { share } of s) assert.ok(share >= 0.999);
    }
  });

  it('a line with at most N+1 senders forwards every sender to everyone', () => {
    const run = simulate({ members: ['a', 'b', 'c'], speakers: 2, frames: 500, level: (m) => (m === 'c' ? 127 : 30) });
    for (const listener of ['a', 'b', 'c']) {
      const s = streams(run, listener);
      assert.equal(s.length, 2);
      for (const { share } of s) assert.equal(share, 1);
    }
  });

  it('the compact layer: 4 speakers of 20 ms frames, takeover within 300 ms', () => {
    const change = 250;
    const run = simulate({ members: EIGHT, speakers: 4, frameMs: 20, frames: 750, level: (m, tick) => (m === 'p7' && tick >= change ? 8 : 20), from: change + 20 });
    const takeoverMs = (run.firstAll.get('p7')! - change) * 20;
    assert.ok(takeoverMs <= 300 && takeoverMs >= HOLD_MS - 20, `took over after ${takeoverMs} ms`);
    for (const listener of EIGHT) {
      const s = streams(run, listener);
      assert.equal(s.length, 4, `${listener}: ${s.map((x) => x.sender)}`);
      for (const { share } of s) assert.equal(share, 1);
    }
  });
});
