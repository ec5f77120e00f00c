/**
 * The message bus between gateways and relays: publish/subscribe of byte messages on named
 * channels. Two adapters with one behaviour: in memory (one process, `npm start`) and Redis pub/sub.
 *
 * Delivery is at most once and in order per publisher and channel; a message published while the bus
 * is down or backed up is dropped (publish returns false), never queued: late audio is worse than
 * lost audio.
 */
import type { Logger } from './logger.js';
import { CRLF, RespError, RespValue, Segments, encodeCommand, publishPrefix } from './resp.js';
import { RedisEndpoint, RedisStream } from './redis-stream.js';

export type BusHandler = (message: Buffer) => void;

export interface Bus {
  /**
   * Publishes the message `head` followed by `body` (two parts, so that a header and a frame need
   * not be copied into one buffer first). Neither may be changed afterwards. Returns false when the
   * message was dropped because the bus is not connected or is backed up.
   */
  publish(channel: string, head: Buffer, body?: Buffer): boolean;
  subscribe(channel: string, handler: BusHandler): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
}

/**
 * One process's bus. It delivers like Redis does, asynchronously: a publish only queues the
 * message, and the queue is delivered in a microtask once the publisher's code has returned, in
 * order. So the embedded default meets the orderings a deployment meets (a reply that arrives after
 * the code that caused it has finished, never inside it), and no handler runs re-entrantly inside
 * another's publish. One microtask per batch, not per message: a loaded turn queues dozens.
 */
export class MemoryBus implements Bus {
  private readonly handlers = new Map<string, BusHandler>();
  // Two parallel arrays, swapped with a spare pair at each delivery: no allocation per message on
  // the audio path beyond the message itself.
  private channels: string[] = [];
  private messages: Buffer[] = [];
  private spareChannels: string[] = [];
  private spareMessages: Buffer[] = [];
  private scheduled = false;

  publish(channel: string, head: Buffer, body?: Buffer): boolean {
    // Nobody subscribed: gone, as on Redis (and no copy made for nobody).
    if (!this.handlers.has(channel)) return true;
    this.channels.push(channel);
    this.messages.push(body ? Buffer.concat([head, body]) : head);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.deliver);
    }
    return true;
  }

  private readonly deliver = () => {
    this.scheduled = false;
    const channels = this.channels;
    const messages = this.messages;
    this.channels = this.spareChannels;
    this.messages = this.spareMessages;
    let failure: unknown;
    for (let i = 0; i < channels.length; i++) {
      // Looked up now: a channel unsubscribed since the publish gets nothing, as on Redis.
      const handler = this.handlers.get(channels[i]);
      try {
        handler?.(messages[i]);
      } catch (err) {
        failure ??= err;
      }
    }
    channels.length = 0;
    messages.length = 0;
    this.spareChannels = channels;
    this.spareMessages = messages;
    // A handler's bug still surfaces (as an uncaught error), after the others had their messages.
    if (failure !== undefined) throw failure;
  };

  async subscribe(channel: string, handler: BusHandler): Promise<void> {
    this.handlers.set(channel, handler);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.handlers.delete(channel);
  }
}

/**
 * On Redis, the messages published to one channel during one event-loop turn travel as ONE Redis
 * message, written when the turn ends (setImmediate): a loaded gateway reads dozens of frames per
 * turn, and one PUBLISH per frame cost Redis, the publisher and every subscriber a command, a
 * parse and an event each. The frames could not have left earlier (the process was busy with the
 * rest of the turn), so this adds no latency. A batch is
 *   [0x00] ([length u32][message]) ...
 * and a turn's single message goes as it is, unless it starts with 0x00 itself.
 * Frames are not copied on the way out: heads, length prefixes and frames go to the socket as one
 * writev.
 */
const BATCH = 0x00;
/** Write a channel's batch early past this size, to keep Redis' and the subscribers' buffers small. */
const MAX_BATCH_BYTES = 256 * 1024;
/**
 * Drop instead of publishing while this much is still unwritten to Redis (about 20 ms of audio for
 * 400 full-rate peers): a stalled Redis must not turn into a growing queue of stale audio.
 */
export const MAX_PUBLISH_BACKLOG_BYTES = 8 * 1024 * 1024;

interface PendingBatch {
  heads: Buffer[];
  bodies: (Buffer | undefined)[];
  /** Bytes of the batch encoding without its leading marker: a length prefix, head and body each. */
  bytes: number;
  headBytes: number;
}

interface Route {
  handler: BusHandler;
  confirmed: boolean;
  waiters: (() => void)[];
}

export interface RedisBusOptions {
  /** Where Redis is now (see RedisStream). */
  locate(): RedisEndpoint | undefined;
  logger: Logger;
  /** Called with a publish Redis refused. */
  onPublishError(err: Error): void;
  /** Called when a connection comes up or the bus is whole again (publisher up, every channel subscribed). */
  onStateChange(): void;
  /** Called when a connection that was up drops. */
  onDown(): void;
  /** Called for each attempt to reconnect (for the reconnects metric). */
  onRetry(): void;
  /**
   * Sharded pub/sub (Redis Cluster, one bus per primary: cluster-bus.ts): SPUBLISH and SSUBSCRIBE,
   * and `onMoved` when this node no longer serves a channel (a MOVED reply, or Redis unsubscribing
   * us because the channel's slot left the node).
   */
  sharded?: { onMoved(): void };
}

/** Redis' refusals that mean "not this node": the slot moved, or the cluster is reconfiguring. */
const MOVED = /^(MOVED|ASK|CLUSTERDOWN|TRYAGAIN) /;

export class RedisBus implements Bus {
  private readonly publisher: RedisStream;
  private readonly subscriber: RedisStream;
  private readonly routes = new Map<string, Route>();
  private readonly prefixes = new Map<string, Buffer>();
  private readonly pending = new Map<string, PendingBatch>();
  private flushScheduled = false;
  private readonly kinds: PubSubKinds;

  constructor(private readonly options: RedisBusOptions) {
    const { locate, logger, onStateChange, onDown, onRetry } = options;
    this.kinds = options.sharded ? SHARDED : CLASSIC;
    this.publisher = new RedisStream({
      name: 'studioline-publisher',
      locate,
      logger,
      onReady: onStateChange,
      onDown,
      onRetry,
      // Replies are the subscriber counts of each PUBLISH; only refusals matter.
      onValue: (v) => {
        if (!(v instanceof RespError)) return;
        if (options.sharded && MOVED.test(v.message)) options.sharded.onMoved();
        else options.onPublishError(v);
      },
    });
    this.subscriber = new RedisStream({
      name: 'studioline-subscriber',
      locate,
      logger,
      onReady: () => this.resubscribe(),
      onDown,
      onRetry,
      onValue: (v) => this.onPush(v),
    });
  }

  /** Reconnects at once whichever connection is waiting to: the server was found again. */
  retryNow(): void {
    this.publisher.retryNow();
    this.subscriber.retryNow();
  }

  /** Publisher connected and every channel's subscription confirmed. */
  isReady(): boolean {
    if (!this.publisher.isReady || !this.subscriber.isReady) return false;
    for (const route of this.routes.values()) if (!route.confirmed) return false;
    return true;
  }

  publish(channel: string, head: Buffer, body?: Buffer): boolean {
    if (!this.publisher.isReady || this.publisher.backlog > MAX_PUBLISH_BACKLOG_BYTES) return false;
    let batch = this.pending.get(channel);
    if (!batch) this.pending.set(channel, (batch = { heads: [], bodies: [], bytes: 0, headBytes: 0 }));
    batch.heads.push(head);
    batch.bodies.push(body);
    batch.bytes += 4 + head.length + (body?.length ?? 0);
    batch.headBytes += 4 + head.length;
    if (batch.bytes >= MAX_BATCH_BYTES) this.write(channel, batch);
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
    return true;
  }

  async subscribe(channel: string, handler: BusHandler): Promise<void> {
    const route: Route = { handler, confirmed: false, waiters: [] };
    this.routes.set(channel, route);
    const confirmed = new Promise<void>((resolve) => route.waiters.push(resolve));
    // Not connected: the subscription goes out with the others once the subscriber is up.
    if (this.subscriber.isReady) this.subscriber.writev([encodeCommand([this.kinds.subscribe, channel])]);
    return confirmed;
  }

  /**
   * Subscribes again to a channel that Redis unsubscribed us from (its slot left the node): sent
   * when the slot table, read again, still names this node; if the node disagrees, its MOVED reply
   * asks for the table again.
   */
  ensureSubscribed(channel: string): void {
    const route = this.routes.get(channel);
    if (route && !route.confirmed && this.subscriber.isReady) this.subscriber.writev([encodeCommand([this.kinds.subscribe, channel])]);
  }

  /** Also ends a wait for the channel's confirmation (the channel moved to another node's bus). */
  async unsubscribe(channel: string): Promise<void> {
    const route = this.routes.get(channel);
    if (!route) return;
    this.routes.delete(channel);
    for (const w of route.waiters.splice(0)) w();
    if (this.subscriber.isReady) this.subscriber.writev([encodeCommand([this.kinds.unsubscribe, channel])]);
  }

  close(): void {
    this.publisher.close();
    this.subscriber.close();
  }

  private readonly flush = () => {
    this.flushScheduled = false;
    for (const [channel, batch] of this.pending) this.write(channel, batch);
  };

  private write(channel: string, batch: PendingBatch): void {
    this.pending.delete(channel);
    let prefix = this.prefixes.get(channel);
    if (!prefix) this.prefixes.set(channel, (prefix = publishPrefix(channel, this.kinds.publish)));
    const { heads, bodies } = batch;
    const chunks: Buffer[] = [prefix];
    if (heads.length === 1 && heads[0][0] !== BATCH) {
      chunks.push(Buffer.from(`$${batch.bytes - 4}\r\n`), heads[0]);
      if (bodies[0]) chunks.push(bodies[0]);
    } else {
      // The small parts (marker, length prefixes, heads) are packed into one buffer; frames stay where they are.
      const framing = Buffer.allocUnsafe(1 + batch.headBytes);
      framing[0] = BATCH;
      let at = 1;
      let start = 0;
      chunks.push(Buffer.from(`$${1 + batch.bytes}\r\n`));
      for (let i = 0; i < heads.length; i++) {
        const body = bodies[i];
        at = framing.writeUInt32BE(heads[i].length + (body?.length ?? 0), at);
        at += heads[i].copy(framing, at);
        if (body) {
          chunks.push(framing.subarray(start, at), body);
          start = at;
        }
      }
      if (start < at) chunks.push(framing.subarray(start, at));
    }
    chunks.push(CRLF);
    if (!this.publisher.writev(chunks)) this.options.onPublishError(new Error('Redis connection lost before the publish'));
  }

  private resubscribe(): void {
    for (const route of this.routes.values()) route.confirmed = false;
    if (this.routes.size === 0) return this.options.onStateChange();
    // A Cluster refuses an SSUBSCRIBE whose channels lie in several slots: one command per channel.
    const commands = this.options.sharded ? [...this.routes.keys()].map((c) => [c]) : [[...this.routes.keys()]];
    this.subscriber.writev(commands.map((channels) => encodeCommand([this.kinds.subscribe, ...channels])));
  }

  private onPush(value: RespValue): void {
    if (value instanceof RespError && this.options.sharded && MOVED.test(value.message)) return this.options.sharded.onMoved();
    if (!Array.isArray(value) || value.length !== 3) return;
    const [kind, channel] = value.map((v) => (v instanceof Segments ? v.bytes() : v));
    if (!Buffer.isBuffer(kind) || !Buffer.isBuffer(channel)) return;
    const route = this.routes.get(channel.toString('latin1'));
    if (!route) return;
    const type = kind.toString('latin1');
    if (type === this.kinds.message) {
      if (Buffer.isBuffer(value[2]) || value[2] instanceof Segments) unbatch(value[2], route.handler);
    } else if (type === this.kinds.subscribed && !route.confirmed) {
      route.confirmed = true;
      for (const w of route.waiters.splice(0)) w();
      if (this.isReady()) this.options.onStateChange();
    } else if (type === this.kinds.unsubscribed && this.options.sharded) {
      // Unasked: the channel's slot left this node (resharding, or the node became a replica).
      route.confirmed = false;
      this.options.onStateChange();
      this.options.sharded.onMoved();
    }
  }
}

/** The commands and push kinds of classic and of sharded pub/sub. */
interface PubSubKinds {
  publish: 'PUBLISH' | 'SPUBLISH';
  subscribe: string;
  unsubscribe: string;
  message: string;
  subscribed: string;
  unsubscribed: string;
}
const CLASSIC: PubSubKinds = { publish: 'PUBLISH', subscribe: 'SUBSCRIBE', unsubscribe: 'UNSUBSCRIBE', message: 'message', subscribed: 'subscribe', unsubscribed: 'unsubscribe' };
const SHARDED: PubSubKinds = { publish: 'SPUBLISH', subscribe: 'SSUBSCRIBE', unsubscribe: 'SUNSUBSCRIBE', message: 'smessage', subscribed: 'ssubscribe', unsubscribed: 'sunsubscribe' };

/** Hands each message of a batch (or the one message) to the handler; a truncated batch ends early. */
export function unbatch(message: Buffer | Segments, handler: BusHandler): void {
  if (message instanceof Segments) return unbatchSegments(message, handler);
  if (message.length === 0 || message[0] !== BATCH) return handler(message);
  let at = 1;
  while (at + 4 <= message.length) {
    const end = at + 4 + message.readUInt32BE(at);
    if (end > message.length) return;
    handler(message.subarray(at + 4, end));
    at = end;
  }
}

/**
 * The same for a batch that arrived in several socket chunks: messages inside one chunk are handed
 * on as views; only the few cut by a chunk boundary are gathered into a buffer of their own.
 */
function unbatchSegments(batch: Segments, handler: BusHandler): void {
  const { parts } = batch;
  if (batch.length === 0 || parts[0][0] !== BATCH) return handler(batch.bytes());
  let part = 0;
  let at = 1;
  /** The next `n` bytes, as a view when they lie in one part; undefined past the end. */
  const take = (n: number): Buffer | undefined => {
    while (part < parts.length && at === parts[part].length) {
      part++;
      at = 0;
    }
    if (part === parts.length) return undefined;
    const current = parts[part];
    if (at + n <= current.length) {
      at += n;
      return current.subarray(at - n, at);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n && part < parts.length) {
      const copied = parts[part].copy(out, filled, at, Math.min(parts[part].length, at + n - filled));
      filled += copied;
      at += copied;
      if (at === parts[part].length && filled < n) {
        part++;
        at = 0;
      }
    }
    return filled === n ? out : undefined;
  };
  for (;;) {
    const length = take(4);
    if (!length) return;
    const message = take(length.readUInt32BE(0));
    if (!message) return;
    handler(message);
  }
}
