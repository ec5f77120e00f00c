/**
 * The bus on a Redis Cluster: sharded pub/sub (SPUBLISH/SSUBSCRIBE). Each channel lives on the
 * primary that serves its slot, and only there: a shard carries the traffic of its own channels,
 * where classic PUBLISH is copied to every node of the cluster. One RedisBus (a publisher and a
 * subscriber connection) per primary; a channel goes to the primary its slot maps to in
 * the cluster's slot table, which the ioredis Cluster client keeps (backend.ts). The pair to each
 * primary is opened as soon as the table names it, so that the first message to a channel (a
 * relay's answer to a join on a gateway's channel) does not wait for a connection; readiness
 * counts only the primaries of the channels in use.
 *
 * When a slot moves (a failover, or resharding), the node that lost it answers MOVED to a
 * publish, and unsubscribes our subscriber by itself; either makes this bus ask the cluster for
 * its slots again and move the channels to their new primary. While a primary in use is
 * unreachable the slots are asked for again every REFRESH_WHILE_DOWN_MS, so audio resumes as soon
 * as the cluster has promoted a replica.
 */
import calculateSlot from 'cluster-key-slot';
import { Bus, BusHandler, RedisBus, RedisBusOptions } from './bus.js';
import type { RedisEndpoint } from './redis-stream.js';

/** How often the slot table is asked for again while a primary in use is unreachable. */
export const REFRESH_WHILE_DOWN_MS = 250;
/** The slot table is asked for at most this often after MOVED replies (a burst of publishes gets one each). */
const MIN_REFRESH_INTERVAL_MS = 50;

/** The cluster's slot table, as the Cluster client knows it. */
export interface SlotTable {
  /** The primary that serves `slot` now (host:port), or undefined while unknown. */
  primary(slot: number): string | undefined;
  /** Every primary that serves slots now. */
  primaries(): string[];
  /** How to reach a node (its address, with the deployment's credentials and TLS). */
  endpoint(node: string): RedisEndpoint;
  /** Asks the cluster for its slots again; the `onRefresh` listeners run when it answered. */
  refresh(): void;
  /** Called after each refresh of the table. */
  onRefresh(listener: () => void): void;
}

export interface ClusterBusOptions extends Omit<RedisBusOptions, 'locate' | 'sharded'> {
  slots: SlotTable;
  /**
   * Channels whose primary counts for readiness even before anything is published on them (the
   * control channels, which share the slot of the key data).
   */
  pinned: string[];
}

export class ClusterBus implements Bus {
  /** One bus per primary (and per node that still serves a channel of ours), by host:port. */
  private readonly shards = new Map<string, RedisBus>();
  /** Subscribed channels and their handlers. */
  private readonly routes = new Map<string, BusHandler>();
  /** Where each channel is sent now (subscribed, published to, or pinned), and whether it was used since the last refresh. */
  private readonly placed = new Map<string, { node: string; used: boolean }>();
  private readonly slotOf = new Map<string, number>();
  private readonly placeWaiters: (() => void)[] = [];
  private refreshTimer: NodeJS.Timeout | undefined;
  private lastRefresh = 0;
  private refreshPending: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: ClusterBusOptions) {
    options.slots.onRefresh(() => this.replace());
    for (const channel of options.pinned) this.place(channel);
  }

  publish(channel: string, head: Buffer, body?: Buffer): boolean {
    const placed = this.placed.get(channel) ?? this.place(channel);
    if (!placed) return false;
    placed.used = true;
    return this.shards.get(placed.node)!.publish(channel, head, body);
  }

  async subscribe(channel: string, handler: BusHandler): Promise<void> {
    this.routes.set(channel, handler);
    const placed = this.placed.get(channel) ?? this.place(channel);
    // Slots not known yet: the subscription goes out when they are (replace()).
    if (!placed) return this.whenPlaced(channel);
    return this.shards.get(placed.node)!.subscribe(channel, handler);
  }

  async unsubscribe(channel: string): Promise<void> {
    if (!this.routes.delete(channel)) return;
    const placed = this.placed.get(channel);
    if (placed) await this.shards.get(placed.node)?.unsubscribe(channel);
  }

  /** Every primary in use is connected and every subscription confirmed. */
  isReady(): boolean {
    if (this.routes.size > 0 && [...this.routes.keys()].some((c) => !this.placed.has(c))) return false;
    const inUse = this.inUse();
    for (const node of inUse) if (!this.shards.get(node)?.isReady()) return false;
    return inUse.size > 0 || this.options.pinned.length === 0;
  }

  private inUse(): Set<string> {
    return new Set([...this.placed.values()].map((p) => p.node));
  }

  close(): void {
    this.closed = true;
    clearInterval(this.refreshTimer);
    clearTimeout(this.refreshPending);
    for (const shard of this.shards.values()) shard.close();
    this.shards.clear();
  }

  private slot(channel: string): number {
    let slot = this.slotOf.get(channel);
    if (slot === undefined) this.slotOf.set(channel, (slot = calculateSlot(channel)));
    return slot;
  }

  /** Decides where a channel goes now (undefined while the slot table is empty). */
  private place(channel: string): { node: string; used: boolean } | undefined {
    const node = this.options.slots.primary(this.slot(channel));
    if (!node) return undefined;
    const placed = { node, used: true };
    this.placed.set(channel, placed);
    this.shard(node);
    return placed;
  }

  private shard(node: string): RedisBus {
    let shard = this.shards.get(node);
    if (shard) return shard;
    const endpoint = this.options.slots.endpoint(node);
    shard = new RedisBus({
      ...this.options,
      locate: () => endpoint,
      onDown: () => {
        this.options.onDown();
        this.refreshWhileDown();
      },
      sharded: { onMoved: () => this.refresh() },
    });
    this.shards.set(node, shard);
    return shard;
  }

  /** The slot table changed (or was confirmed): move every channel whose primary changed. */
  private replace(): void {
    if (this.closed) return;
    const pinned = new Set(this.options.pinned);
    for (const [channel, placed] of this.placed) {
      // Published-to channels not used since the last refresh are forgotten (a relay that left).
      if (!placed.used && !this.routes.has(channel) && !pinned.has(channel)) {
        this.placed.delete(channel);
        continue;
      }
      placed.used = false;
    }
    for (const channel of new Set([...this.routes.keys(), ...this.placed.keys(), ...pinned])) {
      const before = this.placed.get(channel);
      const node = this.options.slots.primary(this.slot(channel));
      if (!node) continue;
      if (node === before?.node) {
        // Unsubscribed by the node while the table still names it: ask it again.
        this.shards.get(node)?.ensureSubscribed(channel);
        continue;
      }
      this.placed.set(channel, { node, used: before?.used ?? false });
      const handler = this.routes.get(channel);
      if (handler) {
        if (before) void this.shards.get(before.node)?.unsubscribe(channel);
        void this.shard(node).subscribe(channel, handler);
      } else this.shard(node);
      if (before) this.options.logger.info({ slot: this.slot(channel), from: before.node, to: node }, 'redis cluster: a channel moved to another primary');
    }
    // Every primary gets its pair; a node that is no primary any more (a failed one whose slots
    // moved) and serves no channel of ours is let go.
    const keep = this.inUse();
    for (const node of this.options.slots.primaries()) {
      keep.add(node);
      this.shard(node);
    }
    for (const [node, shard] of this.shards) {
      if (keep.has(node)) continue;
      shard.close();
      this.shards.delete(node);
    }
    for (const waiter of this.placeWaiters.splice(0)) waiter();
    this.options.onStateChange();
  }

  /** Asks for the slot table, at most every MIN_REFRESH_INTERVAL_MS. */
  private refresh(): void {
    if (this.closed || this.refreshPending) return;
    const wait = this.lastRefresh + MIN_REFRESH_INTERVAL_MS - Date.now();
    const go = () => {
      this.refreshPending = undefined;
      this.lastRefresh = Date.now();
      this.options.slots.refresh();
    };
    if (wait <= 0) go();
    else this.refreshPending = setTimeout(go, wait);
  }

  private async whenPlaced(channel: string): Promise<void> {
    while (!this.closed && this.routes.has(channel) && !this.placed.has(channel)) {
      this.refresh();
      await new Promise<void>((resolve) => this.placeWaiters.push(resolve));
    }
  }

  /** While a primary in use is unreachable, ask for the slots again until they point elsewhere. */
  private refreshWhileDown(): void {
    if (this.refreshTimer || this.closed) return;
    this.refreshTimer = setInterval(() => {
      if ([...this.inUse()].every((node) => this.shards.get(node)?.isReady())) {
        clearInterval(this.refreshTimer);
        this.refreshTimer = undefined;
        return;
      }
      this.refresh();
    }, REFRESH_WHILE_DOWN_MS);
  }
}
