/**
 * What one client address may hold across every gateway sharing the store: open sockets
 * (SOCKETS_PER_ADDRESS), sockets not yet authenticated (UNAUTHENTICATED_PER_ADDRESS), and guesses
 * at keys (AUTH_FAIL_LIMIT per AUTH_FAIL_WINDOW_MS). Addresses are as the trusted-proxy rules give
 * them. The counting itself is the backend's (address-counts.ts in server-kit: atomic, leased per
 * gateway); this file holds the gateway's policy around it.
 *
 * Key checks: a check counts from its start, atomically, so at most (limit - failures so far) run
 * at once per address across gateways; 40 concurrent sockets get no more than the limit of guesses.
 * A join that finds every place taken by checks still in flight WAITS, in a FIFO per address on this
 * gateway, rather than being refused: 40 honest peers behind one NAT all join, a moment later. It
 * is retried as soon as a check of this gateway ends, and every RETRY_MS for checks ending on other
 * gateways. The FIFO is bounded (the address's unauthenticated sockets, and MAX_WAITING here), a wait
 * is bounded (the join timeout), and a join that outlasts either is refused with too_many_attempts;
 * once the failures alone reach the limit, every waiter is refused.
 */
import { AddressCounts, AdmitResult } from '@studioline/server-kit';

/** How often a waiting key check asks again (a check ending on another gateway wakes nobody here). */
const RETRY_MS = 25;
/** Key checks of one address waiting on this gateway, at most (UNAUTHENTICATED_PER_ADDRESS bounds them too). */
const MAX_WAITING = 1000;

export interface SharedAddressLimitsOptions {
  socketsPerAddress: number;
  unauthenticatedPerAddress: number;
  authFailLimit: number;
  authFailWindowMs: number;
  /** The longest a key check waits for a place (the join timeout). */
  maxWaitMs: number;
  /** The lease is renewed this often (the gateway's heartbeat). */
  renewMs: number;
  /** Counts a key check that had to wait (metric). */
  onWait(): void;
}

/** What became of a key check's request to start. */
export type CheckAdmission = 'go' | 'too_many_attempts' | 'unavailable' | 'gone';

interface Waiter {
  /** False once the session closed or was refused meanwhile: dropped from the queue. */
  wanted: () => boolean;
  until: number;
  /** Counted in the wait metric already. */
  counted?: boolean;
  resolve(result: CheckAdmission): void;
}

interface Queue {
  waiters: Waiter[];
  busy: boolean;
  timer?: NodeJS.Timeout;
}

export class SharedAddressLimits {
  private readonly queues = new Map<string, Queue>();
  private renewTimer?: NodeJS.Timeout;

  constructor(
    private readonly counts: AddressCounts,
    private readonly options: SharedAddressLimitsOptions,
  ) {}

  start(): void {
    this.renewTimer = setInterval(() => void this.counts.renew().catch(() => undefined), this.options.renewMs);
  }

  /** Stops renewing, refuses the waiting checks and forgets this gateway's counts. Idempotent. */
  async stop(): Promise<void> {
    clearInterval(this.renewTimer);
    for (const [address, queue] of this.queues) {
      clearTimeout(queue.timer);
      for (const w of queue.waiters.splice(0)) w.resolve('unavailable');
      this.queues.delete(address);
    }
    await this.counts.clear();
  }

  /**
   * Counts a new socket unless the address is at a cap; 'unavailable' when the store cannot say.
   * An admitted upgrade that never becomes a socket must be given back with `closed`.
   */
  async admit(address: string): Promise<AdmitResult | 'unavailable'> {
    const { socketsPerAddress, unauthenticatedPerAddress, authFailLimit } = this.options;
    try {
      return await this.counts.admit(address, { sockets: socketsPerAddress, unauthenticated: unauthenticatedPerAddress, failures: authFailLimit });
    } catch {
      return 'unavailable';
    }
  }

  authenticated(address: string): void {
    this.counts.authenticated(address).catch(() => undefined);
  }

  closed(address: string, authenticated: boolean): void {
    this.counts.closed(address, authenticated).catch(() => undefined);
  }

  /** Waits for a place to check a key; `wanted` says whether the session still wants it. */
  beginCheck(address: string, wanted: () => boolean): Promise<CheckAdmission> {
    let queue = this.queues.get(address);
    if (!queue) this.queues.set(address, (queue = { waiters: [], busy: false }));
    if (queue.waiters.length >= MAX_WAITING) return Promise.resolve('too_many_attempts');
    const result = new Promise<CheckAdmission>((resolve) => queue.waiters.push({ wanted, until: Date.now() + this.options.maxWaitMs, resolve }));
    void this.pump(address, queue);
    return result;
  }

  /** Ends a check begun with 'go'; a failed one counts against the address in the same step. */
  async endCheck(address: string, failed: boolean): Promise<void> {
    try {
      await this.counts.endCheck(address, failed, this.options.authFailWindowMs);
    } catch {
      /* the store is down: the lease write-back mends the count when it returns */
    }
    const queue = this.queues.get(address);
    if (queue) void this.pump(address, queue);
  }

  /** Lets the head of an address's queue start, then the next, until one must wait. One pump at a time per address. */
  private async pump(address: string, queue: Queue): Promise<void> {
    if (queue.busy) return;
    queue.busy = true;
    clearTimeout(queue.timer);
    queue.timer = undefined;
    try {
      while (queue.waiters.length) {
        const head = queue.waiters[0];
        if (!head.wanted()) {
          queue.waiters.shift();
          head.resolve('gone');
          continue;
        }
        if (Date.now() > head.until) {
          queue.waiters.shift();
          head.resolve('too_many_attempts');
          continue;
        }
        let start;
        try {
          start = await this.counts.beginCheck(address, this.options.authFailLimit);
        } catch {
          for (const w of queue.waiters.splice(0)) w.resolve('unavailable');
          break;
        }
        if (start === 'go') {
          queue.waiters.shift();
          head.resolve('go');
        } else if (start === 'refuse') {
          for (const w of queue.waiters.splice(0)) w.resolve('too_many_attempts');
        } else {
          if (!head.counted) {
            head.counted = true;
            this.options.onWait();
          }
          queue.timer = setTimeout(() => void this.pump(address, queue), RETRY_MS);
          return;
        }
      }
    } finally {
      queue.busy = false;
      if (!queue.waiters.length && !queue.timer && this.queues.get(address) === queue) this.queues.delete(address);
    }
  }
}
