/**
 * One sender's jitter buffer: pure logic, no DOM and no timers (the caller passes the time), so
 * the playback AudioWorklet and the unit tests run the same code, and the Node peer can.
 *
 * Frames carry the sender's counter: frame n was captured at n x 10 ms on the sender's clock. Its
 * transit d = arrival - n x 10 ms (plus an unknown constant offset). The fastest recent transit,
 * dmin, is the network's floor; a frame arriving at d is `d - dmin` late. The buffer plays frame n
 * at L + n x 10 ms, and its depth is `L - dmin`: how long an on-time frame waits before it plays
 * (a late frame waits less). The depth is steered towards the target:
 *
 * - target = the 95th percentile of lateness over the last 10 s + one render quantum + 1.5 ms,
 *   raised at once on an underrun to what the late frame needed (by a frame at most), the raise
 *   held a second, then decaying (1 s time constant) once calm;
 * - above target: samples are cut, with a crossfade, from a quiet frame (its level byte says
 *   below -40 dBov), or from any frame once the excess has waited `adjustDeadlineMs` (then a
 *   whole number of the signal's periods, found by correlation, so the crossfade joins in phase);
 * - below target: a stretch of a quiet frame is played twice (crossfaded), likewise;
 * - clock drift between sender and receiver moves dmin slowly: the same steering absorbs it.
 *
 * A missing frame is concealed by continuing the last frame as its mirror image (no step in the
 * signal), fading to silence within 20 ms; the real audio is crossfaded back in. While concealing,
 * the playout clock keeps running, so a frame that arrives after its turn was concealed is dropped
 * as late, and a long stall cannot leave the buffer hundreds of milliseconds deep: it refills to
 * the (raised) target and plays on. A sender that was silent for a while (muted, reconnected)
 * restarts the buffer rather than being dropped as late forever.
 */

export interface JitterBufferOptions {
  /** Playout sample rate (the frames are already at this rate). */
  sampleRate: number;
  /** Samples the caller reads at a time (an AudioWorklet's render quantum); default 128. */
  quantum?: number;
  /** Nominal frame duration; default 10 ms. */
  frameMs?: number;
  /** Lowest and highest target depth; defaults 2 ms and 300 ms. */
  minTargetMs?: number;
  maxTargetMs?: number;
  /** How long an excess or shortfall may wait for a quiet frame before it is corrected anyway; default 1000 ms. */
  adjustDeadlineMs?: number;
}

export interface JitterBufferStats {
  /** How long an on-time frame waits before it plays (the steered depth), ms. */
  depthMs: number;
  targetMs: number;
  /** 95th percentile of arrival lateness over the last 10 s, ms. */
  jitterMs: number;
  /** Mean time the frames that started playing in the last second had waited, from arrival, ms. */
  residenceMs: number;
  /** Audio queued now, ms. */
  bufferedMs: number;
  /** Frames waiting that have not started playing. */
  queued: number;
  played: number;
  underruns: number;
  concealed: number;
  late: number;
  /** Cuts made to drain to the target (each a crossfaded stretch of one frame), and their total length. */
  drops: number;
  cutMs: number;
  stretchedMs: number;
  /** Cuts or stretches made in audible audio because no quiet frame came before the deadline. */
  forced: number;
  /** Times the buffer started over on a sender's new timeline (after a pause, or a counter jump). */
  restarts: number;
}

/** Level byte (-dBov) at or above which a frame is quiet enough to cut or stretch unheard. */
export const QUIET_LEVEL = 40;
const LATENESS_WINDOW_MS = 10_000;
const LATENESS_BIN_MS = 0.5;
const LATENESS_BINS = 1200; // 600 ms
const FLOOR_WINDOW_MS = 3_000;
const CROSSFADE_MS = 2;
/** Safety margin on top of jitter and one render quantum; the depth may sink this far below target before it is raised. */
const MARGIN_MS = 1.5;
const SHORTFALL_MS = 1;
const GHOST_FADE_MS = 20;
/**
 * An underrun's raise is held this long after the last underrun, then decays with this time
 * constant: a +10 ms raise is down to 1 ms about 3.3 s after a lone late frame, while a bout of
 * jitter that keeps underrunning keeps it up. Replayed on traces recorded in two Chromium pages
 * (bench:latency), 2 s and 4 s held the buffer 8-9 ms deeper at the median for a third fewer
 * underruns (11-12 against 14-21 in 2.3 minutes, each a concealed 10-20 ms of audio).
 */
const BOOST_HOLD_MS = 1_000;
const BOOST_DECAY_TAU_MS = 1_000;
/** Late frames arriving over this long mean the sender's timeline moved (it paused): restart. */
const RESTART_AFTER_LATE_MS = 40;
/** Nothing to play for this long: forget the timeline, restart on the next frame. */
const IDLE_RESTART_MS = 1_000;
const MAX_QUEUE = 400;

type Mode = 'idle' | 'filling' | 'playing';

export class JitterBuffer {
  readonly sampleRate: number;
  private readonly frameMs: number;
  private readonly quantumMs: number;
  private readonly minTargetMs: number;
  private readonly maxTargetMs: number;
  private readonly deadlineMs: number;
  private readonly crossfade: number;
  private readonly ghostFade: number;

  private mode: Mode = 'idle';
  private readonly queue = new Map<number, { samples: Float32Array; level: number; arrival: number }>();
  private next = 0;
  private cur?: Float32Array;
  private pos = 0;
  /** The last real audio played, continued as a mirror image while concealing. */
  private last?: Float32Array;
  private ghostAt = -1; // samples of ghost produced in this concealment run; -1: not concealing
  private slotLeft = 0; // ghost samples left in the slot being concealed
  private underrunSlots = new Set<number>(); // slots concealed with an empty queue in this run
  private underrunCounted = false;
  private holding = false; // an underrun was confirmed: refill to target before playing on
  private emptySince?: number;
  private firstLateAt?: number;

  // Transit floor over FLOOR_WINDOW_MS: a monotonic deque of [arrival, transit].
  private floor: [number, number][] = [];
  // Lateness histogram over LATENESS_WINDOW_MS.
  private readonly bins = new Uint32Array(LATENESS_BINS);
  private lateness: [number, number][] = [];
  private lateHead = 0;
  private jitterMs = 0;
  private boostMs = 0;
  private lastUnderrunAt = -Infinity;
  private boostDecayedAt = 0;
  private adjustSince?: number;
  private residences: [number, number][] = [];

  private readonly counts = { played: 0, underruns: 0, concealed: 0, late: 0, drops: 0, cutMs: 0, stretchedMs: 0, forced: 0, restarts: 0 };

  constructor(options: JitterBufferOptions) {
    this.sampleRate = options.sampleRate;
    this.frameMs = options.frameMs ?? 10;
    this.quantumMs = ((options.quantum ?? 128) / this.sampleRate) * 1000;
    this.minTargetMs = options.minTargetMs ?? 2;
    this.maxTargetMs = options.maxTargetMs ?? 300;
    this.deadlineMs = options.adjustDeadlineMs ?? 1_000;
    this.crossfade = Math.round((CROSSFADE_MS / 1000) * this.sampleRate);
    this.ghostFade = Math.round((GHOST_FADE_MS / 1000) * this.sampleRate);
  }

  get targetMs(): number {
    return Math.min(this.maxTargetMs, Math.max(this.minTargetMs, this.baseTargetMs, this.boostMs));
  }

  /** The target the measured jitter asks for, before any underrun's raise. */
  private get baseTargetMs(): number {
    return this.jitterMs + this.quantumMs + MARGIN_MS;
  }

  /**
   * Accepts frame `ctr` that arrived at `nowMs`: `samples` at the playout rate (the buffer takes
   * ownership and may write into them), `level` its -dBov byte (computed when absent).
   */
  push(ctr: number, samples: Float32Array, nowMs: number, level = levelOf(samples)): void {
    if (this.mode === 'idle') this.restart(ctr);
    if (ctr < this.next || this.queue.has(ctr)) {
      this.counts.late++;
      this.firstLateAt ??= nowMs;
      if (this.underrunSlots.has(ctr) && !this.underrunCounted) {
        // It was late, not lost: the buffer really ran dry. Deepen at once.
        this.underrunCounted = true;
        this.counts.underruns++;
        this.holding = true;
        // Deep enough for this frame (how late it came, plus the target's quantum and margin), but
        // at most a frame deeper per underrun: a stall's frames, hundreds of ms late, do not drag
        // the target up with them, and underruns of one size do not stack.
        const needed = this.latenessOf(ctr, nowMs) + this.quantumMs + MARGIN_MS;
        this.boostMs = Math.max(this.boostMs, Math.min(this.maxTargetMs, this.targetMs + this.frameMs, needed));
        this.lastUnderrunAt = nowMs;
      }
      if (nowMs - this.firstLateAt <= RESTART_AFTER_LATE_MS) return void this.observe(ctr, nowMs);
      // Late for this long: the sender's timeline moved (it paused, or came back), so follow it.
      this.restart(ctr);
      this.counts.restarts++;
    } else if (ctr - this.next > MAX_QUEUE) {
      this.restart(ctr);
      this.counts.restarts++;
    } else this.firstLateAt = undefined;
    this.observe(ctr, nowMs);
    this.queue.set(ctr, { samples, level, arrival: nowMs });
  }

  /** Mixes the next `out.length` samples into `out` (adds; the caller clears and clamps). */
  read(out: Float32Array, nowMs: number): void {
    this.decayBoost(nowMs);
    this.clock = nowMs + (out.length / this.sampleRate) * 1000;
    let i = 0;
    while (i < out.length) {
      if (this.cur && this.pos < this.cur.length) {
        const n = Math.min(out.length - i, this.cur.length - this.pos);
        for (let k = 0; k < n; k++) out[i + k] += this.cur[this.pos + k];
        this.pos += n;
        i += n;
        continue;
      }
      if (this.ghostAt >= 0 && this.slotLeft > 0) {
        const n = Math.min(out.length - i, this.slotLeft);
        this.ghost(out, i, n, true);
        this.slotLeft -= n;
        i += n;
        continue;
      }
      this.cur = undefined;
      if (!this.advance(nowMs + ((i / this.sampleRate) * 1000))) {
        // Nothing to play (idle, or filling to the target): silence or the fading ghost, clock held.
        this.ghost(out, i, out.length - i, true);
        return;
      }
    }
  }

  get stats(): JitterBufferStats {
    const recent = this.residences;
    return {
      depthMs: this.depthAt(this.clock),
      targetMs: this.targetMs,
      jitterMs: this.jitterMs,
      residenceMs: recent.length ? recent.reduce((s, r) => s + r[1], 0) / recent.length : 0,
      bufferedMs: this.bufferedMs(),
      queued: this.queue.size,
      ...this.counts,
    };
  }

  /** The counter of the frame the last sample read came from; undefined while concealing or idle. */
  get playingCtr(): number | undefined {
    return this.cur ? this.curCtr : undefined;
  }
  private curCtr = 0;

  /** Where playout has got to: the time just after the last sample read. */
  private clock = 0;

  /** Starts the next slot at `now`: a real frame, or a concealed one. False while there is nothing to start. */
  private advance(now: number): boolean {
    if (this.mode === 'idle') return false;
    if (this.mode === 'filling' || this.holding) {
      if (this.queue.size === 0 || this.depthAt(now) < this.targetMs) {
        if (this.mode === 'playing' && this.emptySince !== undefined && now - this.emptySince > IDLE_RESTART_MS) this.mode = 'idle';
        return false;
      }
      this.mode = 'playing';
      this.holding = false;
    }
    const frame = this.queue.get(this.next);
    if (frame) {
      this.queue.delete(this.next);
      this.start(frame.samples, frame.level, now); // before next++: the depth is measured at this frame's start
      this.curCtr = this.next;
      // Measured as it starts playing, so whatever drained or refilled the buffer meanwhile counts.
      this.residences.push([now, now - frame.arrival]);
      while (this.residences[0][0] < now - 1000) this.residences.shift();
      this.next++;
      return true;
    }
    // Missing: conceal this slot; the playout clock runs on.
    if (this.queue.size === 0) {
      this.underrunSlots.add(this.next);
      this.emptySince ??= now;
      if (now - this.emptySince > IDLE_RESTART_MS) {
        this.mode = 'idle';
        return false;
      }
    }
    if (this.ghostAt < 0) this.ghostAt = 0;
    this.next++;
    this.counts.concealed++;
    this.slotLeft = Math.round((this.frameMs / 1000) * this.sampleRate);
    return true;
  }

  /** Begins playing a real frame: crossfaded in after concealment, cut or stretched towards the target. */
  private start(samples: Float32Array, level: number, now: number): void {
    let x = samples;
    if (this.ghostAt >= 0) {
      const n = Math.min(this.crossfade, x.length);
      const g = new Float32Array(n);
      this.ghost(g, 0, n, false);
      for (let t = 0; t < n; t++) {
        const w = (t + 0.5) / n;
        x[t] = g[t] * (1 - w) + x[t] * w;
      }
      this.ghostAt = -1;
      this.underrunSlots.clear();
      this.underrunCounted = false;
    }
    this.emptySince = undefined;
    const excess = this.depthAt(now) - this.targetMs;
    // Above the target, a quantum of slack (the depth is read a quantum at a time); below it, less
    // than the target's safety margin, so the depth never sinks to where a late frame underruns.
    if (excess <= Math.max(1, this.quantumMs) && excess >= -SHORTFALL_MS) this.adjustSince = undefined;
    else {
      this.adjustSince ??= now;
      if (level >= QUIET_LEVEL || now - this.adjustSince >= this.deadlineMs) {
        const room = x.length - this.crossfade;
        const want = Math.min(room, Math.round((Math.abs(excess) / 1000) * this.sampleRate));
        // In audible audio, cut or repeat a whole number of the signal's periods (the best-matching
        // lag in [want/2, want]), so the crossfade joins audio in phase: no dip, no warble.
        const k = level < QUIET_LEVEL && want > 1 ? bestLag(x, Math.ceil(want / 2), want, this.crossfade) : want;
        if (k > 0) {
          if (level < QUIET_LEVEL) this.counts.forced++;
          x = excess > 0 ? cut(x, k, this.crossfade) : stretch(x, k, this.crossfade);
          if (excess > 0) {
            this.counts.drops++;
            this.counts.cutMs += (k / this.sampleRate) * 1000;
          } else this.counts.stretchedMs += (k / this.sampleRate) * 1000;
          if (k === Math.round((Math.abs(excess) / 1000) * this.sampleRate)) this.adjustSince = undefined;
        }
      }
    }
    this.cur = x;
    this.pos = 0;
    this.last = x;
    this.counts.played++;
  }

  /** Writes (adds, when `add`) `n` samples of the last frame's mirrored continuation, fading out. */
  private ghost(out: Float32Array, at: number, n: number, add: boolean): void {
    const last = this.last;
    if (!last || last.length < 2 || this.ghostAt < 0 || this.ghostAt >= this.ghostFade) {
      if (!add) out.fill(0, at, at + n);
      if (this.ghostAt >= 0 && add) this.ghostAt += n;
      return;
    }
    const period = 2 * (last.length - 1);
    for (let k = 0; k < n; k++) {
      const p = (this.ghostAt + k + 1) % period;
      const idx = p < last.length ? last.length - 1 - p : p - (last.length - 1);
      const v = last[idx] * Math.max(0, 1 - (this.ghostAt + k) / this.ghostFade);
      out[at + k] = add ? out[at + k] + v : v;
    }
    if (add) this.ghostAt += n;
  }

  /** Records frame `ctr`'s transit for the floor and its lateness for the jitter estimate. */
  private observe(ctr: number, now: number): void {
    const transit = now - ctr * this.frameMs;
    const f = this.floor;
    while (f.length && f[f.length - 1][1] >= transit) f.pop();
    f.push([now, transit]);
    while (f[0][0] < now - FLOOR_WINDOW_MS) f.shift();
    const late = transit - f[0][1];
    const bin = Math.min(LATENESS_BINS - 1, Math.floor(late / LATENESS_BIN_MS));
    this.bins[bin]++;
    this.lateness.push([now, bin]);
    while (this.lateness[this.lateHead][0] < now - LATENESS_WINDOW_MS) this.bins[this.lateness[this.lateHead++][1]]--;
    if (this.lateHead > 4096) {
      this.lateness = this.lateness.slice(this.lateHead);
      this.lateHead = 0;
    }
    const count = this.lateness.length - this.lateHead;
    let above = Math.floor(count * 0.05);
    let b = LATENESS_BINS - 1;
    for (; b > 0; b--) {
      if (this.bins[b] > above) break;
      above -= this.bins[b];
    }
    this.jitterMs = (b + 1) * LATENESS_BIN_MS;
  }

  /** How much later than the transit floor frame `ctr`, arriving now, came (a frame if there is no floor yet). */
  private latenessOf(ctr: number, now: number): number {
    return this.floor.length ? now - ctr * this.frameMs - this.floor[0][1] : this.frameMs;
  }

  /** The steered depth: how long a frame arriving at the transit floor would wait, at `now`. */
  private depthAt(now: number): number {
    if (!this.floor.length) return 0;
    // L: when frame `next` starts playing, on the sender's timeline.
    const untilNext = this.cur ? ((this.cur.length - this.pos) / this.sampleRate) * 1000 : this.slotLeft > 0 ? (this.slotLeft / this.sampleRate) * 1000 : 0;
    const playout = now + untilNext - this.next * this.frameMs;
    return playout - this.floor[0][1];
  }

  private bufferedMs(): number {
    let samples = this.cur ? this.cur.length - this.pos : 0;
    for (const f of this.queue.values()) samples += f.samples.length;
    return (samples / this.sampleRate) * 1000;
  }

  private decayBoost(now: number): void {
    if (now - this.lastUnderrunAt < BOOST_HOLD_MS) {
      this.boostDecayedAt = now;
      return;
    }
    const base = this.baseTargetMs;
    if (this.boostMs > base) this.boostMs = base + (this.boostMs - base) * Math.exp(-(now - this.boostDecayedAt) / BOOST_DECAY_TAU_MS);
    this.boostDecayedAt = now;
  }

  private restart(ctr: number): void {
    this.mode = 'filling';
    this.queue.clear();
    this.next = ctr;
    this.floor = [];
    this.firstLateAt = undefined;
    this.emptySince = undefined;
    this.underrunSlots.clear();
    this.holding = false;
  }
}

/** A frame's level byte (-dBov, 127 = silence), as the sender computes it. */
export function levelOf(samples: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
  const rms = Math.sqrt(sum / Math.max(1, samples.length));
  return rms <= 0 ? 127 : Math.max(0, Math.min(127, Math.round(-20 * Math.log10(rms))));
}

/** `x` less `k` samples: its head crossfaded into the audio `k` samples later. */
export function cut(x: Float32Array, k: number, fade: number): Float32Array {
  const y = new Float32Array(x.length - k);
  for (let t = 0; t < fade; t++) {
    const w = (t + 0.5) / fade;
    y[t] = x[t] * (1 - w) + x[t + k] * w;
  }
  y.set(x.subarray(k + fade), fade);
  return y;
}

/** `x` plus `k` samples: it plays its first `k + fade` samples, then crossfades back to sample `k`... of its start. */
export function stretch(x: Float32Array, k: number, fade: number): Float32Array {
  const y = new Float32Array(x.length + k);
  y.set(x.subarray(0, k));
  for (let t = 0; t < fade; t++) {
    const w = (t + 0.5) / fade;
    y[k + t] = x[k + t] * (1 - w) + x[t] * w;
  }
  y.set(x.subarray(fade), k + fade);
  return y;
}

/** The lag in [lo, hi] at which `x` best matches itself over `n` samples (normalised correlation). */
export function bestLag(x: Float32Array, lo: number, hi: number, n: number): number {
  // Bounded work per call: at high rates, try every few lags (still well inside one period).
  const step = Math.max(1, Math.ceil(((hi - lo + 1) * n) / 200_000));
  let best = hi;
  let bestScore = -Infinity;
  let e0 = 0;
  for (let t = 0; t < n; t++) e0 += x[t] * x[t];
  for (let lag = hi; lag >= lo; lag -= step) {
    let dot = 0;
    let e1 = 0;
    for (let t = 0; t < n; t++) {
      dot += x[t] * x[t + lag];
      e1 += x[t + lag] * x[t + lag];
    }
    const score = dot / Math.sqrt(e0 * e1 + 1e-12);
    if (score > bestScore + 1e-6) {
      bestScore = score;
      best = lag;
    }
  }
  return best;
}
