/**
 * Collects an AudioWorklet's render quanta into 10 ms frames of 16-bit PCM, with each frame's end
 * lined up with the end of a device callback.
 *
 * Browsers call `process()` in bursts when the device's callback is longer than a quantum: many
 * real devices and Chromium's fake one run 10 ms callbacks, so 15-16 quanta (at 200 kHz) come at
 * once, then nothing for 10 ms. A frame that ends part-way into a burst is sent at that burst, and
 * its samples from the burst before have already waited 10 ms: up to a whole frame of latency,
 * for nothing. So when bursts are about a frame long and a burst starts with more than two quanta
 * of the frame already filled, the frame restarts from its last quantum (the older samples are
 * dropped, once, usually before the call has joined); from then on every frame ends within the
 * burst that captured it. Pure logic, so the worklet and the unit tests run the same code.
 */

/** A gap this long between `process()` calls starts a new burst (calls within a burst come back to back). */
export const BURST_GAP_MS = 4;

export interface AssemblerFigures {
  /** Times the frame was restarted to line up with a burst, and the samples dropped doing so. */
  realignments: number;
  droppedSamples: number;
}

export class FrameAssembler {
  private frame: Int16Array;
  private filled = 0;
  private lastCallMs = -Infinity;
  private burstSamples = 0;
  /** The sum, over the frame's samples so far, of the wall-clock time each was handed over. */
  private wallSum = 0;
  readonly figures: AssemblerFigures = { realignments: 0, droppedSamples: 0 };

  /**
   * `emit` gets each full frame (a new array, which it may keep or transfer) and how long, on
   * average, its samples waited for it to fill, in ms (the first stretch of the mouth-to-ear path).
   */
  constructor(
    readonly frameSamples: number,
    private readonly emit: (frame: Int16Array, fillWaitMs: number) => void,
  ) {
    this.frame = new Int16Array(frameSamples);
  }

  /** One quantum of float samples in [-1, 1], handed over at wall-clock time `nowMs`. */
  push(input: Float32Array, nowMs: number): void {
    if (nowMs - this.lastCallMs >= BURST_GAP_MS) this.burstStarts(input.length);
    this.lastCallMs = nowMs;
    this.burstSamples += input.length;
    for (let i = 0; i < input.length; i++) {
      const s = Math.max(-1, Math.min(1, input[i]));
      this.frame[this.filled++] = s < 0 ? s * 32768 : s * 32767;
      this.wallSum += nowMs;
      if (this.filled === this.frameSamples) {
        this.emit(this.frame, nowMs - this.wallSum / this.frameSamples);
        this.frame = new Int16Array(this.frameSamples);
        this.filled = 0;
        this.wallSum = 0;
      }
    }
  }

  private burstStarts(quantum: number): void {
    const previous = this.burstSamples;
    this.burstSamples = 0;
    // Only bursts of about a frame can be lined up with frames (2-3 ms callbacks need nothing).
    if (Math.abs(previous - this.frameSamples) > quantum || this.filled <= 2 * quantum) return;
    // Keep the last quantum: burst ends wander by up to a quantum, and a frame must end at or
    // before each of them, never just after (that would hold it a whole burst).
    this.figures.realignments++;
    this.figures.droppedSamples += this.filled - quantum;
    this.frame.copyWithin(0, this.filled - quantum, this.filled);
    this.filled = quantum;
    this.wallSum = this.lastCallMs * quantum;
  }
}
