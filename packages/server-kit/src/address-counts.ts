/**
 * What one client address holds across every gateway at once: open sockets, sockets not yet
 * authenticated, and key checks in flight; and, with the failed-key counter (auth-failures.ts),
 * whether it may start another key check. Each decision is one atomic step (a Lua script on Redis,
 * synchronous code in memory), so concurrent upgrades and joins spread over several gateways cannot
 * all pass a check that only one of them should.
 *
 * Why a hash per gateway, leased: each gateway writes only its own hash (`RedisKeys.addressCounts`,
 * fields `s|`, `u|`, `c|` + address), and a decision sums the hashes of the gateways that are alive
 * in the presence directory (their registration, which they already renew every second). A gateway
 * that dies stops counting at once for every address (its registration lapses) and its hash expires
 * by itself shortly after (its TTL is renewed with the registration): no count is left behind, and
 * no sweeper is needed. Renewing is one PEXPIRE per gateway, whatever the number of addresses. A
 * counter per address (INCR) would be simpler to sum but could not forget a dead gateway's share.
 */
import type { Redis } from 'ioredis';
import { MemoryAuthFailureCounter } from './auth-failures.js';
import { RedisKeys } from './redis-keys.js';

/** Why a new socket from an address is refused, or 'ok'. */
export type AdmitResult = 'ok' | 'too_many_sockets' | 'too_many_unauthenticated' | 'too_many_attempts';

/**
 * Whether a key check may start: 'go' (counted in flight from now), 'wait' (failures plus checks in
 * flight have reached the limit: a check ending may free a place), 'refuse' (failures alone have).
 */
export type CheckStart = 'go' | 'wait' | 'refuse';

export interface AddressCaps {
  /** Open sockets per address across gateways (SOCKETS_PER_ADDRESS). */
  sockets: number;
  /** Sockets not yet authenticated per address across gateways (UNAUTHENTICATED_PER_ADDRESS). */
  unauthenticated: number;
  /** Failed key checks per address per window (AUTH_FAIL_LIMIT); no socket once reached. */
  failures: number;
}

/** One gateway's share of the per-address counts. */
export interface AddressCounts {
  /** Counts a new socket (open and unauthenticated) unless a cap is reached. */
  admit(address: string, caps: AddressCaps): Promise<AdmitResult>;
  /** The socket's key was accepted: it no longer counts as unauthenticated. */
  authenticated(address: string): Promise<void>;
  /** The socket closed (or its handshake failed after `admit`). */
  closed(address: string, authenticated: boolean): Promise<void>;
  /** Starts a key check: at most `failLimit` minus the failures so far run at once per address. */
  beginCheck(address: string, failLimit: number): Promise<CheckStart>;
  /** Ends a key check; a failed one is counted in the failed-key window in the same step. */
  endCheck(address: string, failed: boolean, windowMs: number): Promise<void>;
  /** Renews this gateway's lease on its counts (call it with the gateway's heartbeat). */
  renew(): Promise<void>;
  /** Forgets this gateway's counts (it stops). */
  clear(): Promise<void>;
}

const SOCKETS = 's|';
const UNAUTHENTICATED = 'u|';
const CHECKS = 'c|';

// ---- in memory: one process, every gateway of it shares the backend's counts ----

export class MemoryAddressCounts implements AddressCounts {
  constructor(
    private readonly counts: Map<string, number>,
    private readonly failures: MemoryAuthFailureCounter,
  ) {}

  async admit(address: string, caps: AddressCaps): Promise<AdmitResult> {
    if (this.failures.countNow(address) >= caps.failures) return 'too_many_attempts';
    if (this.get(SOCKETS + address) >= caps.sockets) return 'too_many_sockets';
    if (this.get(UNAUTHENTICATED + address) >= caps.unauthenticated) return 'too_many_unauthenticated';
    this.add(SOCKETS + address, 1);
    this.add(UNAUTHENTICATED + address, 1);
    return 'ok';
  }
  async authenticated(address: string) {
    this.add(UNAUTHENTICATED + address, -1);
  }
  async closed(address: string, authenticated: boolean) {
    this.add(SOCKETS + address, -1);
    if (!authenticated) this.add(UNAUTHENTICATED + address, -1);
  }
  async beginCheck(address: string, failLimit: number): Promise<CheckStart> {
    const failures = this.failures.countNow(address);
    if (failures >= failLimit) return 'refuse';
    if (failures + this.get(CHECKS + address) >= failLimit) return 'wait';
    this.add(CHECKS + address, 1);
    return 'go';
  }
  async endCheck(address: string, failed: boolean, windowMs: number) {
    this.add(CHECKS + address, -1);
    if (failed) this.failures.recordNow(address, windowMs);
  }
  async renew() {}
  async clear() {}

  private get(field: string): number {
    return this.counts.get(field) ?? 0;
  }
  private add(field: string, delta: number): void {
    const value = this.get(field) + delta;
    if (value <= 0) this.counts.delete(field);
    else this.counts.set(field, value);
  }
}

// ---- on Redis: shared by every gateway of a deployment ----

/**
 * Shared by the scripts: the sum of `field` over the hashes of the live gateways (and this one's,
 * which counts even while its registration is being renewed after an outage).
 * KEYS[1] presence ZSET of gateways; ARGV[1] now (ms), ARGV[2] hash name prefix, ARGV[3] this gateway's id.
 * The hashes are named from the prefix (not passed as KEYS): they share the deployment's prefix,
 * whose hash tag keeps them in one Cluster slot with KEYS.
 */
/**
 * The gateways whose shares count: those alive in the presence directory, and this one. Also used
 * by the key seats (key-seats.ts). KEYS[1] presence ZSET; ARGV[1] now (ms), ARGV[3] this gateway.
 */
export const LIVE_IDS = `
local function live_ids()
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')
  ids[#ids + 1] = ARGV[3]
  return ids
end
`;

const SUM = `${LIVE_IDS}
local function live_hashes()
  local names, seen = {}, {}
  for _, id in ipairs(live_ids()) do
    if not seen[id] then
      seen[id] = true
      names[#names + 1] = ARGV[2] .. id
    end
  end
  return names
end
local function sum(names, field)
  local total = 0
  for _, name in ipairs(names) do total = total + tonumber(redis.call('HGET', name, field) or '0') end
  return total
end
`;

/**
 * admit-3: KEYS[1] presence, KEYS[2] failed-key counter of the address, KEYS[3] this gateway's hash.
 * ARGV[1..3] as SUM, ARGV[4] address, ARGV[5] socket cap, ARGV[6] unauthenticated cap, ARGV[7]
 * failure limit, ARGV[8] lease (ms). Returns 0 admitted, 1 too many sockets, 2 too many
 * unauthenticated, 3 too many failed attempts.
 */
const ADMIT = `${SUM}
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[7]) then return 3 end
local names = live_hashes()
if sum(names, 's|' .. ARGV[4]) >= tonumber(ARGV[5]) then return 1 end
if sum(names, 'u|' .. ARGV[4]) >= tonumber(ARGV[6]) then return 2 end
redis.call('HINCRBY', KEYS[3], 's|' .. ARGV[4], 1)
redis.call('HINCRBY', KEYS[3], 'u|' .. ARGV[4], 1)
redis.call('PEXPIRE', KEYS[3], ARGV[8])
return 0
`;

/**
 * begin-check-3: KEYS as admit-3. ARGV[1..3] as SUM, ARGV[4] address, ARGV[5] failure limit,
 * ARGV[6] lease (ms). Returns 0 go (counted in flight), 1 wait, 2 refuse.
 */
const BEGIN_CHECK = `${SUM}
local failures = tonumber(redis.call('GET', KEYS[2]) or '0')
local limit = tonumber(ARGV[5])
if failures >= limit then return 2 end
if failures + sum(live_hashes(), 'c|' .. ARGV[4]) >= limit then return 1 end
redis.call('HINCRBY', KEYS[3], 'c|' .. ARGV[4], 1)
redis.call('PEXPIRE', KEYS[3], ARGV[6])
return 0
`;

/**
 * release-1: KEYS[1] this gateway's hash; ARGV the fields to decrement by one (a field at 0 or
 * below is deleted: a count lost with an expired hash never goes negative).
 */
const RELEASE = `
for _, field in ipairs(ARGV) do
  if redis.call('HINCRBY', KEYS[1], field, -1) <= 0 then redis.call('HDEL', KEYS[1], field) end
end
return 0
`;

/**
 * end-check-2: KEYS[1] this gateway's hash, KEYS[2] failed-key counter of the address; ARGV[1]
 * address, ARGV[2] 1 when the check failed, ARGV[3] the failed-key window (ms). The check stops
 * counting in flight and its failure starts counting in the same step: no moment where a guess
 * counts as neither.
 */
const END_CHECK = `
local field = 'c|' .. ARGV[1]
if redis.call('HINCRBY', KEYS[1], field, -1) <= 0 then redis.call('HDEL', KEYS[1], field) end
if ARGV[2] == '1' then
  redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[3], 'NX')
end
return 0
`;

type Scripted = Redis & {
  studiolineAdmit(...args: (string | number)[]): Promise<number>;
  studiolineBeginCheck(...args: (string | number)[]): Promise<number>;
  studiolineRelease(...args: (string | number)[]): Promise<number>;
  studiolineEndCheck(...args: (string | number)[]): Promise<number>;
};

/** Registers the scripts on a connection (ioredis sends EVALSHA, and the script once if Redis lacks it). */
export function defineAddressScripts(redis: Redis): void {
  if ((redis as Scripted).studiolineAdmit) return;
  redis.defineCommand('studiolineAdmit', { numberOfKeys: 3, lua: ADMIT });
  redis.defineCommand('studiolineBeginCheck', { numberOfKeys: 3, lua: BEGIN_CHECK });
  redis.defineCommand('studiolineRelease', { numberOfKeys: 1, lua: RELEASE });
  redis.defineCommand('studiolineEndCheck', { numberOfKeys: 2, lua: END_CHECK });
}

export class RedisAddressCounts implements AddressCounts {
  private readonly redis: Scripted;
  private readonly hash: string;
  /**
   * This gateway's own share, as it believes it to be: written back whole when its hash is found
   * missing (it expired through a store outage) or a decrement could not be sent.
   */
  private readonly mine = new Map<string, number>();
  private dirty = false;

  constructor(
    redis: Redis,
    private readonly keys: RedisKeys,
    private readonly gateway: string,
    private readonly leaseMs: number,
  ) {
    defineAddressScripts(redis);
    this.redis = redis as Scripted;
    this.hash = keys.addressCounts(gateway);
  }

  private head(): (string | number)[] {
    return [this.keys.presence('gateways'), Date.now(), this.keys.addressCounts(''), this.gateway];
  }

  async admit(address: string, caps: AddressCaps): Promise<AdmitResult> {
    const [presence, now, hashPrefix, self] = this.head();
    const result = await this.redis.studiolineAdmit(
      presence, this.keys.authFailures(address), this.hash,
      now, hashPrefix, self, address, caps.sockets, caps.unauthenticated, caps.failures, this.leaseMs,
    );
    if (result !== 0) return (['ok', 'too_many_sockets', 'too_many_unauthenticated', 'too_many_attempts'] as const)[result];
    this.add(SOCKETS + address, 1);
    this.add(UNAUTHENTICATED + address, 1);
    return 'ok';
  }

  async authenticated(address: string) {
    await this.release([UNAUTHENTICATED + address]);
  }

  async closed(address: string, authenticated: boolean) {
    await this.release(authenticated ? [SOCKETS + address] : [SOCKETS + address, UNAUTHENTICATED + address]);
  }

  async beginCheck(address: string, failLimit: number): Promise<CheckStart> {
    const [presence, now, hashPrefix, self] = this.head();
    const result = await this.redis.studiolineBeginCheck(presence, this.keys.authFailures(address), this.hash, now, hashPrefix, self, address, failLimit, this.leaseMs);
    if (result !== 0) return result === 1 ? 'wait' : 'refuse';
    this.add(CHECKS + address, 1);
    return 'go';
  }

  async endCheck(address: string, failed: boolean, windowMs: number) {
    this.add(CHECKS + address, -1);
    try {
      await this.redis.studiolineEndCheck(this.hash, this.keys.authFailures(address), address, failed ? 1 : 0, windowMs);
    } catch (err) {
      this.dirty = true;
      throw err;
    }
  }

  async renew() {
    if (!this.dirty && (await this.redis.pexpire(this.hash, this.leaseMs)) === 1) return;
    if (!this.dirty && this.mine.size === 0) return;
    // Written back from what this gateway holds (a count whose script ran but whose reply is still
    // on its way is missed until the next write-back: at most a few sockets, for a moment).
    const tx = this.redis.multi().del(this.hash);
    if (this.mine.size) tx.hset(this.hash, Object.fromEntries(this.mine)).pexpire(this.hash, this.leaseMs);
    await tx.exec();
    this.dirty = false;
  }

  async clear() {
    this.mine.clear();
    await this.redis.del(this.hash);
  }

  private async release(fields: string[]): Promise<void> {
    for (const f of fields) this.add(f, -1);
    try {
      await this.redis.studiolineRelease(this.hash, ...fields);
    } catch (err) {
      this.dirty = true;
      throw err;
    }
  }

  private add(field: string, delta: number): void {
    const value = (this.mine.get(field) ?? 0) + delta;
    if (value <= 0) this.mine.delete(field);
    else this.mine.set(field, value);
  }
}
