/**
 * Paces a real-time sender: frame i is due FRAME_MS * i after the start. A sender that fell behind
 * catches up with a short burst, but frames more than {@link SEND_MAX_LATE_MS} late are skipped
 * (and counted), never sent in one flood that the gateway would drop over budget anyway.
 */
import { FRAME_MS } from '@studioline/protocol';
import { SEND_MAX_LATE_MS } from './call-constants.js';

export class SendPacer {
  private index = 0;
  private readonly start: number;
  /** Frames skipped because they were more than the bound late. */
  skipped = 0;

  /**
   * @param total frames to send in all
   * @param clock milliseconds, monotonic (default performance.now)
   * @param maxLateMs the lateness bound (default {@link SEND_MAX_LATE_MS})
   */
  constructor(
    private readonly total: number,
    private readonly clock: () => number = () => performance.now(),
    private readonly maxLateMs: number = SEND_MAX_LATE_MS,
  ) {
    this.start = clock();
  }

  /** Every frame was sent or skipped. */
  get done(): boolean {
    return this.index >= this.total;
  }

  /** The index of a frame to send now (skipping those too late), or undefined when none is due yet. */
  next(): number | undefined {
    const elapsed = this.clock() - this.start;
    if (this.done || this.index * FRAME_MS > elapsed) return undefined;
    if (elapsed - this.index * FRAME_MS > this.maxLateMs) {
      const onTime = Math.min(this.total, Math.ceil((elapsed - this.maxLateMs) / FRAME_MS));
      this.skipped += onTime - this.index;
      this.index = onTime;
      if (this.done) return undefined;
    }
    return this.index++;
  }

  /** Milliseconds until the next frame is due (0 when one is due now). */
  waitMs(): number {
    return Math.max(0, this.start + this.index * FRAME_MS - this.clock());
  }
}
