/**
 * A sliding replay window over SFrame counters (the idea of RFC 6479): accepts each counter once,
 * accepts late frames within `size` of the highest counter seen, and refuses anything older.
 * Call {@link mayAccept} before decrypting (cheap) and {@link markSeen} only after the frame
 * authenticated, so that forged frames cannot move the window.
 */
export class ReplayWindow {
  private highest = -1n;
  private readonly seen: Uint8Array;

  /** @param size how far behind the highest counter a late frame is still accepted (default 1024) */
  constructor(readonly size = 1024) {
    this.seen = new Uint8Array(size);
  }

  mayAccept(ctr: bigint): boolean {
    if (ctr > this.highest) return true;
    if (this.highest - ctr >= BigInt(this.size)) return false;
    return this.seen[Number(ctr % BigInt(this.size))] === 0;
  }

  markSeen(ctr: bigint): void {
    const size = BigInt(this.size);
    if (ctr > this.highest) {
      // Clear the slots that the window slides past, so they can hold newer counters.
      const advance = this.highest < 0n ? size : ctr - this.highest;
      if (advance >= size) this.seen.fill(0);
      else for (let c = this.highest + 1n; c <= ctr; c++) this.seen[Number(c % size)] = 0;
      this.highest = ctr;
    }
    this.seen[Number(ctr % size)] = 1;
  }
}
