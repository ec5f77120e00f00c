/**
 * The message bus between gateways and relays: publish/subscribe of byte messages on named
 * channels. Two adapters with one behaviour: in memory (one process, `npm start`) and Redis pub/sub.
 *
 * Delivery is at most once and in order per publisher; a message published while the bus is down is
 * dropped (publish returns false), never queued: late audio is worse than lost audio.
 */
import type { Redis } from 'ioredis';

export type BusHandler = (message: Buffer) => void;

export interface Bus {
  /** Returns false when the message was dropped because the bus is not connected. */
  publish(channel: string, message: Uint8Array): boolean;
  subscribe(channel: string, handler: BusHandler): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
}

export class MemoryBus implements Bus {
  private readonly handlers = new Map<string, BusHandler>();

  publish(channel: string, message: Uint8Array): boolean {
    const handler = this.handlers.get(channel);
    // Delivered synchronously: the publisher may not touch `message` afterwards, and the subscriber
    // gets it before publish returns, as if Redis were infinitely fast.
    if (handler) handler(Buffer.isBuffer(message) ? message : Buffer.from(message.buffer, message.byteOffset, message.byteLength));
    return true;
  }

  async subscribe(channel: string, handler: BusHandler): Promise<void> {
    this.handlers.set(channel, handler);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.handlers.delete(channel);
  }
}

export interface RedisBusErrors {
  /** Called with a failed publish (the connection dropped between the check and the write). */
  onPublishError(err: Error): void;
}

export class RedisBus implements Bus {
  // A short list compared by bytes: each process subscribes to a handful of channels, and this
  // avoids turning every message's channel name into a string.
  private readonly routes: { channel: Buffer; name: string; handler: BusHandler }[] = [];

  constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly errors: RedisBusErrors,
  ) {
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      for (const route of this.routes) if (route.channel.equals(channel)) return route.handler(message);
    });
  }

  private readonly publishFailed = (err: Error) => this.errors.onPublishError(err);

  publish(channel: string, message: Uint8Array): boolean {
    if (this.publisher.status !== 'ready') return false;
    this.publisher.publish(channel, Buffer.isBuffer(message) ? message : Buffer.from(message.buffer, message.byteOffset, message.byteLength)).catch(this.publishFailed);
    return true;
  }

  async subscribe(channel: string, handler: BusHandler): Promise<void> {
    this.routes.push({ channel: Buffer.from(channel), name: channel, handler });
    await this.subscriber.subscribe(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    const i = this.routes.findIndex((r) => r.name === channel);
    if (i >= 0) this.routes.splice(i, 1);
    if (this.subscriber.status === 'ready') await this.subscriber.unsubscribe(channel);
  }
}
