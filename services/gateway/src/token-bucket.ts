/**
 * A token bucket in bytes: `rate` bytes per second, holding at most `burst`. A frame that does not
 * fit is dropped by the caller: realtime audio is never queued.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes `bytes` if available at time `now` (ms); returns false (taking nothing) otherwise. */
  take(bytes: number, now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens < bytes) return false;
    this.tokens -= bytes;
    return true;
  }
}
