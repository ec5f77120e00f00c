/**
 * Failed authentications per client address, counted across every gateway (in Redis) so that an
 * attacker cannot spread guesses over the pods.
 */
import type { Redis } from 'ioredis';
import { RedisKeys } from './redis-keys.js';

export interface AuthFailureCounter {
  /** Counts one failure; returns the failures of this address in the current window. */
  record(address: string, windowMs: number): Promise<number>;
  count(address: string): Promise<number>;
}

export class MemoryAuthFailureCounter implements AuthFailureCounter {
  private readonly windows = new Map<string, { count: number; until: number }>();
  async record(address: string, windowMs: number) {
    return this.recordNow(address, windowMs);
  }
  async count(address: string) {
    return this.countNow(address);
  }
  /** As record, synchronously: the in-memory address counts decide in one step with it. */
  recordNow(address: string, windowMs: number): number {
    const now = Date.now();
    let w = this.windows.get(address);
    if (!w || w.until <= now) {
      w = { count: 0, until: now + windowMs };
      this.windows.set(address, w);
    }
    if (this.windows.size > 100_000) for (const [a, v] of this.windows) if (v.until <= now) this.windows.delete(a);
    return ++w.count;
  }
  countNow(address: string): number {
    const w = this.windows.get(address);
    return w && w.until > Date.now() ? w.count : 0;
  }
}

export class RedisAuthFailureCounter implements AuthFailureCounter {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}
  async record(address: string, windowMs: number) {
    const key = this.keys.authFailures(address);
    const [[, count]] = (await this.redis.multi().incr(key).pexpire(key, windowMs, 'NX').exec()) as [[unknown, number]];
    return count;
  }
  async count(address: string) {
    return Number((await this.redis.get(this.keys.authFailures(address))) ?? 0);
  }
}
