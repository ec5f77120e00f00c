/**
 * Requests per source address (the transport's address, not a Via anyone can write), as a token
 * bucket: `perSecond` on average, `burst` at once. A phone sends a few requests a minute (REGISTER
 * refreshes, OPTIONS keepalives, calls), so the default leaves room for a PBX or a gateway in front
 * of many phones, and an INVITE flood from one address is answered 503 (Retry-After) for almost
 * nothing: no digest check, no account lookup, no line joined. The table of addresses is bounded:
 * past `maxAddresses` the least recently seen is forgotten (a full bucket again, which only errs
 * toward letting a request in).
 */
export class RequestRate {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly maxAddresses = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes one request from `address`'s bucket; false when it is empty. */
  take(address: string): boolean {
    const now = this.now();
    let b = this.buckets.get(address);
    if (b) {
      this.buckets.delete(address); // re-inserted below: the Map's order is then least recently seen first
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
      b.at = now;
    } else {
      b = { tokens: this.burst, at: now };
      if (this.buckets.size >= this.maxAddresses) this.buckets.delete(this.buckets.keys().next().value as string);
    }
    this.buckets.set(address, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
