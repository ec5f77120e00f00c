/**
 * Whether a peer transmits, frame by frame: a hot channel always (the microphone open), a
 * push-to-talk channel while its key or button is held, a listen-only channel never; and mute
 * closes any of them. Shared by the page's call worker and the Node peer.
 *
 * The gate opens on the first frame captured after the key goes down (at most one frame, 10 ms,
 * later) and closes on the first frame after it goes up. Both edges are faded over FADE_MS, so
 * neither clicks: a closing gate sends one more frame, its audio ramped to silence, and then
 * nothing. While it is closed the caller tells the call core it paused (`CallCore.pause`): the
 * frame clock moves on, and the next frame sent is marked as a talk spurt's start, so listeners
 * keep the pause in time and do not count it as lost.
 */

export type TalkMode = 'hot' | 'ptt' | 'listen';
export const TALK_MODES: readonly TalkMode[] = ['hot', 'ptt', 'listen'];

/** How long each edge is faded: short enough to keep the first syllable, long enough not to click (a 200 Hz cycle). */
export const FADE_MS = 5;

export class TalkGate {
  private held = false;
  private muted = false;
  /** The gain at the end of the last frame: 0 closed, 1 open. */
  private gain = 0;
  /** When the key went down, until the first frame after it was let through. */
  private pressedAt?: number;
  /** The last push-to-talk start: from the key going down to its first frame handed on, ms. */
  lastStartDelayMs?: number;

  constructor(
    private mode: TalkMode = 'hot',
    private readonly sampleRate: number,
  ) {
    this.gain = this.open ? 1 : 0;
  }

  get talkMode(): TalkMode {
    return this.mode;
  }

  /** True while frames go out (or the closing fade has yet to). */
  get open(): boolean {
    return !this.muted && (this.mode === 'hot' || (this.mode === 'ptt' && this.held));
  }

  setMode(mode: TalkMode): void {
    this.mode = mode;
  }

  setMuted(muted: boolean): void {
    this.muted = muted;
  }

  /** The push-to-talk key went down at `at` (ms, any clock the caller's frames share). */
  press(at: number): void {
    if (!this.held) this.pressedAt = at;
    this.held = true;
  }

  release(): void {
    this.held = false;
    this.pressedAt = undefined;
  }

  /**
   * The frame to send for captured `pcm` (at `now`, the clock `press` was given), faded where the
   * gate opens or closes; undefined while it is closed.
   */
  process(pcm: Int16Array, now: number): Int16Array | undefined {
    const target = this.open ? 1 : 0;
    if (target === 0 && this.gain === 0) return undefined;
    if (target === 1 && this.pressedAt !== undefined) {
      this.lastStartDelayMs = now - this.pressedAt;
      this.pressedAt = undefined;
    }
    if (this.gain === target) return pcm;
    const fadeSamples = Math.max(1, Math.round((this.sampleRate * FADE_MS) / 1000));
    const out = new Int16Array(pcm.length);
    const from = this.gain;
    for (let i = 0; i < pcm.length; i++) {
      const g = i >= fadeSamples ? target : from + ((target - from) * (i + 1)) / fadeSamples;
      out[i] = Math.round(pcm[i] * g);
    }
    this.gain = target;
    return out;
  }
}
