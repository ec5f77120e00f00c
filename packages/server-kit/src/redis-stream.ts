/**
 * A raw connection to Redis for the audio bus: one socket, the handshake (AUTH, CLIENT SETNAME),
 * then writes of pre-encoded commands and a stream of replies. It reconnects by itself, backing off
 * to 1 s as the ioredis connections do, and finds its server through `locate()`, which the backend
 * answers from the ioredis command connection (so Sentinel and Cluster discovery stay in ioredis).
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from './logger.js';
import { RespError, RespReader, RespValue, encodeCommand } from './resp.js';

export interface RedisEndpoint {
  host: string;
  port: number;
  username?: string;
  password?: string;
  /** TLS options; undefined for plain TCP. */
  tls?: tls.ConnectionOptions;
}

export interface RedisStreamOptions {
  /** The connection's name in CLIENT LIST. */
  name: string;
  /** Where to connect now; undefined while unknown (e.g. Sentinel not answered yet): try again later. */
  locate(): RedisEndpoint | undefined;
  logger: Logger;
  /** The handshake is done: the connection takes commands. */
  onReady(): void;
  /** A reply or push after the handshake. */
  onValue(value: RespValue): void;
  /** The connection was lost (it is being re-established). */
  onDown?(): void;
  /** A new attempt to connect is scheduled (for the reconnects metric). */
  onRetry?(): void;
}

/**
 * How long a connection to Redis may take (TCP and, with TLS, the handshake). Redis is near: a
 * connect that takes longer goes to an address nobody holds any more. A Sentinel primary's pod
 * that is gone answers no SYN (no RST either), and until the Sentinels fail over they still name
 * it: with 5 s here each attempt to it cost 5 s, and a failover on Kubernetes was heard as 9 s of
 * silence instead of about 3.
 */
export const CONNECT_TIMEOUT_MS = 1000;
/** Connection errors are logged at most this often per connection, so an outage does not flood logs. */
export const ERROR_LOG_INTERVAL_MS = 5000;

/**
 * Reconnect forever, backing off to 250 ms: services ride out a Redis restart by themselves, and
 * find a newly promoted primary within a quarter second (with a 1 s cap, a Sentinel failover on
 * Kubernetes was heard as 1.6 s more silence than the failover itself took). An attempt costs a
 * connect to a server that is down or refusing: cheap at four a second.
 */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(50 * attempt, 250);
}

export class RedisStream {
  private socket: net.Socket | undefined;
  private ready = false;
  private closed = false;
  private attempts = 0;
  private lastLogged = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: RedisStreamOptions) {
    this.connect();
  }

  get isReady(): boolean {
    return this.ready;
  }

  /** Bytes written but not yet taken by the kernel: the caller drops audio rather than queue it. */
  get backlog(): number {
    return this.socket?.writableLength ?? 0;
  }

  /** Writes buffers as one writev. Only while ready; returns false otherwise. */
  writev(chunks: readonly Buffer[]): boolean {
    const socket = this.socket;
    if (!this.ready || !socket) return false;
    socket.cork();
    for (const c of chunks) socket.write(c);
    socket.uncork();
    return true;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.ready = false;
    this.socket?.destroy();
  }

  private connect(): void {
    this.timer = undefined;
    if (this.closed) return;
    const endpoint = this.options.locate();
    if (!endpoint) return this.retry();
    const socket = endpoint.tls
      ? tls.connect({ servername: net.isIP(endpoint.host) ? undefined : endpoint.host, ...endpoint.tls, host: endpoint.host, port: endpoint.port })
      : net.connect({ host: endpoint.host, port: endpoint.port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => socket.destroy(new Error('connect timeout')));

    const handshake: (string | Buffer)[][] = [];
    if (endpoint.password) handshake.push(endpoint.username ? ['AUTH', endpoint.username, endpoint.password] : ['AUTH', endpoint.password]);
    handshake.push(['CLIENT', 'SETNAME', this.options.name]);
    let awaiting = handshake.length;
    const reader = new RespReader((value) => {
      if (awaiting === 0) return this.options.onValue(value);
      // The reason of a refused AUTH is logged; the secret never is (it is not in the reply).
      if (value instanceof RespError) return void socket.destroy(new Error(`Redis refused the handshake: ${value.message}`));
      if (--awaiting === 0) {
        socket.setTimeout(0);
        this.ready = true;
        this.attempts = 0;
        this.options.onReady();
      }
    });
    socket.once(endpoint.tls ? 'secureConnect' : 'connect', () => socket.write(Buffer.concat(handshake.map(encodeCommand))));
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.feed(chunk);
      } catch (err) {
        socket.destroy(err as Error);
      }
    });
    socket.on('error', (err) => this.logError(err));
    socket.on('close', () => {
      if (this.socket !== socket) return;
      const wasReady = this.ready;
      this.ready = false;
      this.socket = undefined;
      if (wasReady) this.options.onDown?.();
      this.retry();
    });
  }

  /** Connects at once if waiting to retry: the caller knows the server is back (the command connection found the primary). */
  retryNow(): void {
    if (this.closed || this.socket || this.timer === undefined) return;
    clearTimeout(this.timer);
    this.connect();
  }

  private retry(): void {
    if (this.closed) return;
    this.attempts++;
    this.options.onRetry?.();
    this.timer = setTimeout(() => this.connect(), reconnectDelayMs(this.attempts));
  }

  private logError(err: Error): void {
    if (Date.now() - this.lastLogged < ERROR_LOG_INTERVAL_MS) return;
    this.lastLogged = Date.now();
    this.options.logger.warn({ connection: this.options.name, err: err.message }, 'redis connection error');
  }
}
