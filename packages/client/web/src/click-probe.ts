/**
 * A test hook for the latency benchmark (bench/latency.mjs): finds the onset of each click in a
 * click train (a loud sample after at least 20 ms of near silence) and stamps it with the wall
 * clock, so the capture worklet on one page and the playback worklet on another can be compared.
 * Off unless the page turns it on; it costs one comparison per sample when on.
 */
const LOUD = 0.25;
const QUIET = 0.05;
const QUIET_BEFORE_S = 0.02;

export class ClickProbe {
  private quiet = 0;
  private readonly quietNeeded: number;

  constructor(private readonly rate: number) {
    this.quietNeeded = Math.round(QUIET_BEFORE_S * rate);
  }

  /** Returns the wall-clock time (ms since the epoch) of a click onset in `x`, if there is one. */
  scan(x: Float32Array, wallMs: number): number | undefined {
    let found: number | undefined;
    for (let i = 0; i < x.length; i++) {
      const a = Math.abs(x[i]);
      if (a >= LOUD && this.quiet >= this.quietNeeded && found === undefined) found = wallMs + (i / this.rate) * 1000;
      this.quiet = a < QUIET ? this.quiet + 1 : 0;
    }
    return found;
  }
}
