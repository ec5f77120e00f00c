/**
 * A test hook for the latency benchmark (bench/latency.mjs): finds the onset of each click in a
 * click train (a loud sample after at least 20 ms without one) and stamps it with the wall clock
 * of the worklet's `process()` call, so the capture worklet on one page and the playback worklet
 * on another can be compared. Off unless the page turns it on; one comparison per sample when on.
 */
const LOUD = 0.25;
const GAP_S = 0.02;

export class ClickProbe {
  private sample = 0;
  private lastLoud = -Infinity;
  private readonly gap: number;

  constructor(private readonly rate: number) {
    this.gap = Math.round(GAP_S * rate);
  }

  /** Returns the wall-clock time (ms since the epoch) of a click onset in `x`, if there is one. */
  scan(x: Float32Array, wallMs: number): number | undefined {
    let found: number | undefined;
    for (let i = 0; i < x.length; i++, this.sample++) {
      if (Math.abs(x[i]) < LOUD) continue;
      if (found === undefined && this.sample - this.lastLoud >= this.gap) found = wallMs + (i / this.rate) * 1000;
      this.lastLoud = this.sample;
    }
    return found;
  }
}
