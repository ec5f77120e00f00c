/**
 * Which relays (and which gateways) are alive. Each process registers with an expiry and renews it
 * (heartbeat); a process that dies simply stops renewing and drops out when its registration
 * expires. Gateways read the relays to route lines; relays read the gateways to forget the members
 * of a gateway that died.
 */
import type { Redis } from 'ioredis';

export type PresenceKind = 'relays' | 'gateways';

export interface PresenceDirectory {
  /** Registers or renews `id` until now + ttlMs. */
  heartbeat(id: string, ttlMs: number): Promise<void>;
  remove(id: string): Promise<void>;
  /** Processes whose registration has not expired, sorted. */
  live(): Promise<string[]>;
}

export class MemoryPresenceDirectory implements PresenceDirectory {
  private readonly expiry = new Map<string, number>();
  async heartbeat(id: string, ttlMs: number) {
    this.expiry.set(id, Date.now() + ttlMs);
  }
  async remove(id: string) {
    this.expiry.delete(id);
  }
  async live() {
    const now = Date.now();
    return [...this.expiry].filter(([, until]) => until > now).map(([id]) => id).sort();
  }
}

export class RedisPresenceDirectory implements PresenceDirectory {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
  ) {}
  async heartbeat(id: string, ttlMs: number) {
    const now = Date.now();
    await this.redis.multi().zadd(this.key, now + ttlMs, id).zremrangebyscore(this.key, '-inf', now).exec();
  }
  async remove(id: string) {
    await this.redis.zrem(this.key, id);
  }
  async live() {
    return (await this.redis.zrangebyscore(this.key, Date.now(), '+inf')).sort();
  }
}
