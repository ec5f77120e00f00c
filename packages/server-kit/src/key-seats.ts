/**
 * The seats an API key holds across every gateway at once: its peers in calls, and the lines they
 * are on, for the key's limits (max peers, max lines). Each claim is one atomic step (a Lua script
 * on Redis, synchronous code in memory), so two gateways racing for a key's last seat cannot both
 * win it.
 *
 * The same lease as the per-address counts (address-counts.ts): each gateway writes only its own
 * share, a decision counts the shares of the gateways alive in the presence directory (and this
 * one's), so a gateway that dies stops counting as soon as its registration lapses, and its share is
 * deleted by the next claim that meets it. Unlike an address's sockets, a key's lines cannot be a
 * sum of per-gateway counts (a line whose peers are on two gateways is one line), so a key's seats
 * live in one hash per key (`RedisKeys.keySeats`): field `GATEWAY|LINE` holds that gateway's peers of
 * the key on that line, and `GATEWAY|` marks that the gateway's share is there. Each gateway renews
 * the hashes of the keys it holds with its heartbeat (PEXPIRE, one per key in use) and, when its
 * mark is gone (its share was forgotten through a store outage, or Redis restarted), writes its
 * share back from what it holds.
 */
import type { Redis } from 'ioredis';
import { LIVE_IDS } from './address-counts.js';
import { RedisKeys } from './redis-keys.js';

/** A key's counted limits; 0: no limit. */
export interface SeatLimits {
  maxPeers: number;
  maxLines: number;
}

/** Why a key's seat was refused, or 'ok'. The refusals are error codes (errors.ts in the protocol). */
export type SeatClaim = 'ok' | 'key_peer_limit' | 'key_line_limit';

/** One gateway's share of the keys' seats. */
export interface KeySeats {
  /** Takes a seat for a peer of `keyId` on `line`, unless a limit is reached. */
  claim(keyId: string, line: string, limits: SeatLimits): Promise<SeatClaim>;
  /** Gives a seat back (the peer left). */
  release(keyId: string, line: string): Promise<void>;
  /** Renews this gateway's lease on its seats (call it with the gateway's heartbeat). */
  renew(): Promise<void>;
  /** Forgets this gateway's seats (it stops). */
  clear(): Promise<void>;
}

// ---- in memory: one process, every gateway of it shares the backend's seats ----

export class MemoryKeySeats implements KeySeats {
  /** keyId -> line -> peers */
  constructor(private readonly seats: Map<string, Map<string, number>>) {}

  async claim(keyId: string, line: string, limits: SeatLimits): Promise<SeatClaim> {
    let lines = this.seats.get(keyId);
    if (!lines) this.seats.set(keyId, (lines = new Map()));
    let peers = 0;
    for (const n of lines.values()) peers += n;
    if (limits.maxPeers > 0 && peers >= limits.maxPeers) return 'key_peer_limit';
    if (limits.maxLines > 0 && !lines.has(line) && lines.size >= limits.maxLines) return 'key_line_limit';
    lines.set(line, (lines.get(line) ?? 0) + 1);
    return 'ok';
  }
  async release(keyId: string, line: string) {
    const lines = this.seats.get(keyId);
    const n = (lines?.get(line) ?? 0) - 1;
    if (n > 0) lines!.set(line, n);
    else lines?.delete(line);
    if (lines?.size === 0) this.seats.delete(keyId);
  }
  async renew() {}
  async clear() {}
}

// ---- on Redis: shared by every gateway of a deployment ----

/**
 * claim-seat-2: KEYS[1] presence ZSET of gateways, KEYS[2] the key's seats hash. ARGV[1] now (ms),
 * ARGV[2] unused (LIVE_IDS' hash prefix), ARGV[3] this gateway's id, ARGV[4] line, ARGV[5] max
 * peers, ARGV[6] max lines (0: no limit), ARGV[7] lease (ms). Returns 0 taken, 1 the key's peers
 * are at their limit, 2 its lines are (and `line` is not one of them). Fields of gateways no longer
 * alive are deleted on the way.
 */
const CLAIM = `${LIVE_IDS}
local max_peers, max_lines = tonumber(ARGV[5]), tonumber(ARGV[6])
if max_peers > 0 or max_lines > 0 then
  local live = {}
  for _, id in ipairs(live_ids()) do live[id] = true end
  local fields = redis.call('HGETALL', KEYS[2])
  local peers, lines, nlines = 0, {}, 0
  for i = 1, #fields, 2 do
    local field = fields[i]
    local bar = string.find(field, '|', 1, true)
    local gw, line = string.sub(field, 1, bar - 1), string.sub(field, bar + 1)
    if not live[gw] then
      redis.call('HDEL', KEYS[2], field)
    elseif line ~= '' then
      peers = peers + tonumber(fields[i + 1])
      if not lines[line] then
        lines[line] = true
        nlines = nlines + 1
      end
    end
  end
  if max_peers > 0 and peers >= max_peers then return 1 end
  if max_lines > 0 and not lines[ARGV[4]] and nlines >= max_lines then return 2 end
end
redis.call('HINCRBY', KEYS[2], ARGV[3] .. '|' .. ARGV[4], 1)
redis.call('HSET', KEYS[2], ARGV[3] .. '|', 1)
redis.call('PEXPIRE', KEYS[2], ARGV[7])
return 0
`;

/** release-seat-1: KEYS[1] the key's seats hash; ARGV[1] the field (GATEWAY|LINE), decremented (deleted at 0). */
const RELEASE = `
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
`;

/**
 * renew-seats-1: KEYS[1] a key's seats hash; ARGV[1] this gateway's mark (GATEWAY|), ARGV[2] lease.
 * Returns 1 renewed, 0 when the mark is gone (the caller writes its share back).
 */
const RENEW = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

type Scripted = Redis & {
  studiolineClaimSeat(...args: (string | number)[]): Promise<number>;
  studiolineReleaseSeat(...args: (string | number)[]): Promise<number>;
  studiolineRenewSeats(...args: (string | number)[]): Promise<number>;
};

export class RedisKeySeats implements KeySeats {
  private readonly redis: Scripted;
  /** This gateway's share, keyId -> line -> peers: written back whole for a key whose mark is gone. */
  private readonly mine = new Map<string, Map<string, number>>();
  /** Lines whose release could not be sent (store down), per key: written back at the next renewal. */
  private readonly dirty = new Map<string, Set<string>>();

  constructor(
    redis: Redis,
    private readonly keys: RedisKeys,
    private readonly gateway: string,
    private readonly leaseMs: number,
  ) {
    if (!(redis as Scripted).studiolineClaimSeat) {
      redis.defineCommand('studiolineClaimSeat', { numberOfKeys: 2, lua: CLAIM });
      redis.defineCommand('studiolineReleaseSeat', { numberOfKeys: 1, lua: RELEASE });
      redis.defineCommand('studiolineRenewSeats', { numberOfKeys: 1, lua: RENEW });
    }
    this.redis = redis as Scripted;
  }

  async claim(keyId: string, line: string, limits: SeatLimits): Promise<SeatClaim> {
    const result = await this.redis.studiolineClaimSeat(
      this.keys.presence('gateways'), this.keys.keySeats(keyId),
      Date.now(), '', this.gateway, line, limits.maxPeers, limits.maxLines, this.leaseMs,
    );
    if (result !== 0) return result === 1 ? 'key_peer_limit' : 'key_line_limit';
    let lines = this.mine.get(keyId);
    if (!lines) this.mine.set(keyId, (lines = new Map()));
    lines.set(line, (lines.get(line) ?? 0) + 1);
    return 'ok';
  }

  async release(keyId: string, line: string): Promise<void> {
    const lines = this.mine.get(keyId);
    const n = (lines?.get(line) ?? 0) - 1;
    if (n > 0) lines!.set(line, n);
    else lines?.delete(line);
    if (lines?.size === 0) this.mine.delete(keyId);
    try {
      await this.redis.studiolineReleaseSeat(this.keys.keySeats(keyId), `${this.gateway}|${line}`);
    } catch (err) {
      // Mended by the next renewal, which writes back what this gateway holds on that line.
      const lines = this.dirty.get(keyId) ?? new Set<string>();
      this.dirty.set(keyId, lines.add(line));
      throw err;
    }
  }

  async renew(): Promise<void> {
    const mark = `${this.gateway}|`;
    for (const [keyId, lines] of [...this.dirty]) {
      const hash = this.keys.keySeats(keyId);
      const tx = this.redis.multi();
      for (const line of lines) {
        const n = this.mine.get(keyId)?.get(line);
        if (n) tx.hset(hash, `${this.gateway}|${line}`, n);
        else tx.hdel(hash, `${this.gateway}|${line}`);
      }
      await tx.exec();
      this.dirty.delete(keyId);
    }
    for (const [keyId, lines] of this.mine) {
      const hash = this.keys.keySeats(keyId);
      if ((await this.redis.studiolineRenewSeats(hash, mark, this.leaseMs)) === 1) continue;
      const fields: Record<string, number> = { [mark]: 1 };
      for (const [line, n] of lines) fields[`${this.gateway}|${line}`] = n;
      await this.redis.multi().hset(hash, fields).pexpire(hash, this.leaseMs).exec();
    }
  }

  async clear(): Promise<void> {
    const held = [...this.mine];
    this.mine.clear();
    this.dirty.clear();
    for (const [keyId, lines] of held) {
      await this.redis.hdel(this.keys.keySeats(keyId), `${this.gateway}|`, ...[...lines.keys()].map((line) => `${this.gateway}|${line}`));
    }
  }
}
