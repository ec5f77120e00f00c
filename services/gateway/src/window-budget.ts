/**
 * The per-peer bandwidth budget: at most `bytesPerSecond × windowMs` bytes in any window of
 * `windowMs` (BUDGET_BPS, BUDGET_WINDOW_MS). A frame that does not fit is dropped by the caller:
 * realtime audio is never queued.
 *
 * Why a sliding window and not a token bucket: a sender whose tab or network stalls sends the
 * frames it held all at once when it recovers (500 ms of a 3.3 Mbit/s stream is about 50 frames,
 * 206 KB). A bucket deep enough to take that (about 240 ms of a 7 Mbit/s budget, more with
 * margin) also lets a flooder through by that much on top of the rate: over 10 s at twice the
 * budget, 2.4-3 % too much. The window instead counts what really arrived in the last second: a
 * catch-up burst only fills the part of the window that the stall left empty, so any stall
 * shorter than the window passes whole, while any `windowMs` (hence any whole number of windows,
 * e.g. 10 s) carries at most the budget, whatever the sender does.
 *
 * The window is a ring of 10 ms slots with a running sum: O(1) per frame (a long silence clears
 * at most the whole ring once), and nothing allocated per frame.
 */
export const BUDGET_SLOT_MS = 10;

export class WindowBudget {
  private readonly slots: Float64Array;
  /** Bytes in the ring (the last `slots.length` slots, the current one included). */
  private sum = 0;
  /** The absolute number (time / BUDGET_SLOT_MS) of the newest slot in the ring. */
  private slot: number;
  private readonly capacity: number;

  /**
   * @param bytesPerSecond the budget's rate
   * @param windowMs the window, a multiple of 10 ms (1000 by default in the gateway's config)
   * @param now the time in ms (performance.now()); must not go backwards
   */
  constructor(bytesPerSecond: number, windowMs: number, now: number) {
    const count = Math.max(1, Math.round(windowMs / BUDGET_SLOT_MS));
    this.slots = new Float64Array(count);
    this.capacity = (bytesPerSecond * count * BUDGET_SLOT_MS) / 1000;
    this.slot = Math.floor(now / BUDGET_SLOT_MS);
  }

  /** Counts `bytes` at time `now` (ms) if they fit in the window; returns false (counting nothing) otherwise. */
  take(bytes: number, now: number): boolean {
    this.advance(Math.floor(now / BUDGET_SLOT_MS));
    if (this.sum + bytes > this.capacity) return false;
    this.slots[this.slot % this.slots.length] += bytes;
    this.sum += bytes;
    return true;
  }

  /** Bytes counted in the current window (for tests and diagnostics). */
  get used(): number {
    return this.sum;
  }

  /** Forgets the slots that left the window since the last call. */
  private advance(slot: number): void {
    if (slot <= this.slot) return;
    const n = this.slots.length;
    if (slot - this.slot >= n) {
      this.slots.fill(0);
      this.sum = 0;
    } else {
      for (let s = this.slot + 1; s <= slot; s++) {
        this.sum -= this.slots[s % n];
        this.slots[s % n] = 0;
      }
      // Sums of integers stay exact in a double; this only guards against a caller's fractions.
      if (this.sum < 0.5) this.sum = 0;
    }
    this.slot = slot;
  }
}
