import { RECONNECT_DELAYS_MS, RECONNECT_JITTER } from './call-constants.js';

/**
 * When to try again after a connection is lost: the delays in one array (the last repeats), each
 * spread by a random jitter. `random` is injectable so tests can pin it.
 */
export class ReconnectPolicy {
  constructor(
    readonly delaysMs: readonly number[] = RECONNECT_DELAYS_MS,
    readonly jitter = RECONNECT_JITTER,
    private readonly random: () => number = Math.random,
  ) {
    if (delaysMs.length === 0) throw new RangeError('a reconnect policy needs at least one delay');
  }

  /** The delay before attempt `attempt` (0 for the first retry after a loss), in ms. */
  delayMs(attempt: number): number {
    const base = this.delaysMs[Math.min(attempt, this.delaysMs.length - 1)];
    return Math.round(base * (1 + this.jitter * (2 * this.random() - 1)));
  }
}
