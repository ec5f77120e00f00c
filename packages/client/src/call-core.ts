/**
 * The call core: one peer's connection to its line, shared by the web page and the Node peer.
 * It joins, seals and sends frames (skipping them, never queueing, while the socket backs up),
 * opens what arrives and hands each frame to its sinks, keeps the figures, pings for the round
 * trip, and reconnects by its policy with a new sender id each time unless the server refused for
 * good. The transport is any WebSocket-like object (the browser's WebSocket, `ws`); the media
 * (capture, playback, WAV files, tones) and the UI live outside and build on its typed events.
 */
import {
  CallLink,
  ERRORS,
  ErrorCode,
  FINAL_CLOSE_CODES,
  FrameOpener,
  FrameSealer,
  ServerMessage,
  audioLevel,
  decodeAudioFrame,
  deriveLineId,
  describeClose,
  encodeAudioFrame,
  encodeJoin,
  parseServerMessage,
  randomSenderId,
  senderIdToText,
  upgradeRefusalForStatus,
} from '@studioline/protocol';
import { PING_INTERVAL_MS, SEND_BUFFER_LIMIT_BYTES } from './call-constants.js';
import { CallFigures, LossCounter, emptyFigures } from './call-stats.js';
import { ReconnectPolicy } from './reconnect-policy.js';
import { TypedEvents } from './typed-events.js';

/** An event handler that accepts each platform's own event type (method-style bivariance). */
type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'] | null;

/** What the core needs of a websocket; the browser's WebSocket and `ws` both are one. */
export interface CallSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown>;
  onmessage: Handler<{ readonly data: unknown }>;
  onerror: Handler<unknown>;
  onclose: Handler<{ readonly code: number; readonly reason: string }>;
}

/**
 * Opens a socket to `url`. `onRefused` is called with the HTTP status when the server refuses the
 * upgrade (Node can see it; browsers cannot, and report only a close).
 */
export type SocketFactory = (url: string, onRefused: (httpStatus: number) => void) => CallSocket;

/** Time and timers, injectable so tests run the core in simulated time. */
export interface CallClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const REAL_CLOCK: CallClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export type CallState = 'connecting' | 'waiting' | 'in-call' | 'reconnecting' | 'refused' | 'ended';

/** A refusal by the server, or a call that could not start or go on. */
export class CallError extends Error {
  constructor(
    readonly code: ErrorCode | 'no_peer' | 'connect_failed',
    message: string,
    readonly closeCode?: number,
  ) {
    super(message);
    this.name = 'CallError';
  }
}

/** One decrypted frame from another peer, as every sink receives it. */
export interface ReceivedFrame {
  senderId: bigint;
  /** The sender id as text (lowercase hex), as control messages carry it. */
  sender: string;
  ctr: bigint;
  /** The clear audio-level byte (RFC 6464: 0 loudest, 127 silence). */
  level: number;
  sampleRate: number;
  pcm: Int16Array;
  /** When it was opened, on the core's clock (performance.now() by default). */
  at: number;
}

/**
 * Where received frames go: the recorder, a playout jitter buffer per sender. `forget` is called
 * when a sender leaves the line (a reconnecting peer comes back with a new sender id).
 */
export interface FrameSink {
  push(frame: ReceivedFrame): void;
  forget?(sender: string): void;
}

export interface SentFrame {
  senderId: bigint;
  ctr: bigint;
  /** When it was handed to the socket, on the core's clock. */
  at: number;
  bytes: number;
}

export interface CallEvents {
  state: { state: CallState; detail: string };
  /** Joined (again): this session's sender id and the others on the line. */
  joined: { senderId: bigint; peers: string[]; capacity: number; budgetBps: number; rejoined: boolean };
  peers: string[];
  peerJoined: string;
  peerLeft: string;
  frame: ReceivedFrame;
  sent: SentFrame;
  /** The gateway warned without closing (over_budget, malformed_frame). */
  warning: { code: ErrorCode; message: string };
  /** The connection was lost; the core tries again in `retryInMs`. */
  connectionLost: { closeCode: number; message: string; retryInMs: number };
  /** The call is over: stopped (no error), or refused or lost for good. */
  ended: { error?: CallError };
  /** Every control message from the gateway, for tests that watch the protocol. */
  serverMessage: ServerMessage;
}

export interface CallCoreOptions {
  link: CallLink;
  /** The websocket URL (the Node peer: the link's; the page: its own host's). */
  url: string;
  /** The rate this peer sends at. */
  sampleRate: number;
  socket: SocketFactory;
  /** Reconnect when the connection drops or the gateway drains (default true). */
  reconnect?: boolean;
  /** Keep trying when the very first connection fails (default true); false fails start() at once. */
  retryFirstConnect?: boolean;
  policy?: ReconnectPolicy;
  clock?: CallClock;
  /** Default {@link SEND_BUFFER_LIMIT_BYTES}. */
  sendBufferLimitBytes?: number;
  /** Default {@link PING_INTERVAL_MS}; 0 turns pings off. */
  pingIntervalMs?: number;
}

const OPEN = 1;

/** The gateway's answers to a refused upgrade, as the refusals a person reads. */
function refusalForStatus(status: number): ErrorCode | 'connect_failed' {
  return upgradeRefusalForStatus(status) ?? 'connect_failed';
}

function toBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}

export class CallCore extends TypedEvents<CallEvents> {
  private readonly opener: FrameOpener;
  private readonly loss = new LossCounter();
  private readonly counts = emptyFigures();
  private readonly sinks = new Set<FrameSink>();
  private readonly clock: CallClock;
  private readonly policy: ReconnectPolicy;
  private readonly peerSet = new Set<string>();
  /** Sender ids as text, made once per sender rather than once per frame. */
  private readonly senderTexts = new Map<bigint, string>();
  private lineId?: string;
  private ws?: CallSocket;
  private sealer?: FrameSealer;
  private joined = false;
  private everJoined = false;
  private attempt = 0;
  private stopped = false;
  private pingTimer?: unknown;
  private retryTimer?: unknown;
  private started?: { resolve: () => void; reject: (err: CallError) => void };

  constructor(private readonly options: CallCoreOptions) {
    super();
    if (!options.link.leafBytes) throw new CallError('bad_request', 'the link has no leaf key: make one with `studioline link`');
    this.opener = new FrameOpener(options.link.leafBytes);
    this.clock = options.clock ?? REAL_CLOCK;
    this.policy = options.policy ?? new ReconnectPolicy();
  }

  /** Connects and joins; resolves once joined, rejects if the call ends before that. */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.started = { resolve, reject };
      deriveLineId(this.options.link.leafBytes as Uint8Array).then(
        (line) => {
          this.lineId = line;
          void this.connect();
        },
        (err: Error) => this.finish(new CallError('connect_failed', `cannot derive the line id: ${err.message}`)),
      );
    });
  }

  /** Ends the call: closes the socket, cancels any retry. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clock.clearTimeout(this.retryTimer);
    this.clock.clearTimeout(this.pingTimer);
    this.joined = false;
    this.ws?.close(1000, 'bye');
    this.setState('ended', 'Call ended.');
    this.finish(this.started ? new CallError('connect_failed', 'the call was stopped before it joined') : undefined);
  }

  /** Received frames go to every sink, in the order they were added. */
  addSink(sink: FrameSink): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  /** The other peers on the line (sender ids as text). */
  get peers(): ReadonlySet<string> {
    return this.peerSet;
  }

  get isJoined(): boolean {
    return this.joined;
  }

  /** A snapshot of the figures. */
  figures(): CallFigures {
    const o = this.opener.stats;
    return { ...this.counts, warnings: { ...this.counts.warnings }, lost: this.loss.lost, replayed: o.replayed, decryptFailed: o.decryptFailed, malformed: o.malformed + this.counts.malformed };
  }

  /**
   * Seals and sends one frame of PCM at this peer's rate. Returns false (and counts why) when it
   * was not sent: not joined, or the socket still holds too much unsent.
   */
  async send(pcm: Int16Array): Promise<boolean> {
    const ws = this.ws;
    const sealer = this.sealer;
    if (!ws || !sealer || !this.joined || ws.readyState !== OPEN) {
      this.counts.unsentDisconnected++;
      return false;
    }
    if (ws.bufferedAmount > (this.options.sendBufferLimitBytes ?? SEND_BUFFER_LIMIT_BYTES)) {
      this.counts.unsentBackpressure++;
      return false;
    }
    const ctr = sealer.sealed;
    const wire = await sealer.seal(audioLevel(pcm), encodeAudioFrame(this.options.sampleRate, pcm));
    // The socket may have gone while sealing: the frame belongs to that session only.
    if (ws !== this.ws || !this.joined || ws.readyState !== OPEN) {
      this.counts.unsentDisconnected++;
      return false;
    }
    ws.send(wire);
    this.counts.framesSent++;
    this.counts.bytesSent += wire.length;
    this.emit('sent', { senderId: sealer.senderId, ctr, at: this.clock.now(), bytes: wire.length });
    return true;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const senderId = randomSenderId();
    const sealer = await FrameSealer.create(this.options.link.leafBytes as Uint8Array, senderId);
    if (this.stopped) return;
    this.setState(this.everJoined ? 'reconnecting' : 'connecting', 'Connecting…');
    let refusedStatus: number | undefined;
    let socketError: string | undefined;
    let lastError: { code: ErrorCode; message: string } | undefined;
    const ws = this.options.socket(this.options.url, (status) => (refusedStatus = status));
    this.ws = ws;
    this.sealer = undefined;
    this.joined = false;
    ws.onopen = () => ws.send(encodeJoin(this.options.link.apiKey, this.lineId as string, senderId, this.options.sampleRate, this.options.link.capacity));
    ws.onerror = (event) => {
      // The close event follows and decides; keep the words for a first connection that fails.
      const message = (event as { message?: unknown } | undefined)?.message;
      if (typeof message === 'string') socketError = message;
    };
    ws.onmessage = (event) => {
      if (typeof event.data === 'string') {
        const msg = parseServerMessage(event.data);
        if (!msg) return;
        if (msg.type === 'error') lastError = { code: msg.code, message: msg.message };
        this.onControl(ws, msg, senderId, sealer);
        return;
      }
      const bytes = toBytes(event.data);
      if (bytes) void this.onBinary(bytes);
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      let { code, message } = describeClose(event.code, event.reason, lastError);
      let closeCode = event.code;
      if (refusedStatus !== undefined) {
        const refusal = refusalForStatus(refusedStatus);
        code = refusal === 'connect_failed' ? undefined : refusal;
        closeCode = refusal === 'connect_failed' ? event.code : ERRORS[refusal].closeCode;
        message = `the server refused the websocket with HTTP ${refusedStatus}${code ? ': ' + ERRORS[code].message : ''}`;
      }
      this.onClose(closeCode, event.reason, code, message ?? (socketError && !this.everJoined ? `cannot connect to ${this.options.url}: ${socketError}` : undefined));
    };
  }

  private onControl(ws: CallSocket, msg: ServerMessage, senderId: bigint, sealer: FrameSealer): void {
    this.emit('serverMessage', msg);
    if (msg.type === 'joined') {
      this.joined = true;
      this.sealer = sealer;
      const rejoined = this.everJoined;
      if (rejoined) this.counts.reconnects++;
      this.everJoined = true;
      this.attempt = 0;
      this.peerSet.clear();
      for (const p of msg.peers) this.peerSet.add(p);
      this.emit('joined', { senderId, peers: [...msg.peers], capacity: msg.capacity, budgetBps: msg.budgetBps, rejoined });
      this.emit('peers', [...this.peerSet]);
      this.announce();
      this.schedulePing(ws);
      this.started?.resolve();
      this.started = undefined;
    } else if (msg.type === 'peer_joined') {
      this.peerSet.add(msg.sender);
      this.emit('peerJoined', msg.sender);
      this.emit('peers', [...this.peerSet]);
      this.announce();
    } else if (msg.type === 'peer_left') {
      this.peerSet.delete(msg.sender);
      const id = BigInt('0x' + msg.sender);
      this.opener.forget(id);
      this.loss.forget(id);
      this.senderTexts.delete(id);
      for (const sink of this.sinks) sink.forget?.(msg.sender);
      this.emit('peerLeft', msg.sender);
      this.emit('peers', [...this.peerSet]);
      this.announce();
    } else if (msg.type === 'pong') {
      this.counts.rttMs = this.clock.now() - msg.t;
    } else if (msg.type === 'error') {
      if (ERRORS[msg.code]?.closeCode === 0) {
        this.counts.warnings[msg.code] = (this.counts.warnings[msg.code] ?? 0) + 1;
        this.emit('warning', { code: msg.code, message: msg.message });
      } else if (msg.code === 'draining' && this.joined) {
        // The gateway is going away: connect again now (through another gateway) rather than
        // wait out the old socket's close handshake.
        this.drop(ws);
        this.emit('connectionLost', { closeCode: ERRORS.draining.closeCode, message: msg.message, retryInMs: 0 });
        this.setState('reconnecting', `${msg.message} Reconnecting…`);
        void this.connect();
      }
    }
  }

  /** Forgets a socket: its events no longer reach the core, and it is closed. */
  private drop(ws: CallSocket): void {
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.onerror = () => undefined;
    this.clock.clearTimeout(this.pingTimer);
    this.joined = false;
    this.sealer = undefined;
    this.ws = undefined;
    ws.close(1000, 'reconnecting');
  }

  private onClose(closeCode: number, reason: string, code: ErrorCode | undefined, message: string | undefined): void {
    this.clock.clearTimeout(this.pingTimer);
    const wasJoined = this.joined;
    this.joined = false;
    this.sealer = undefined;
    if (this.stopped) return;
    const words = message ?? `The connection to the server was lost (${closeCode}${reason ? ' ' + reason : ''}).`;
    if (FINAL_CLOSE_CODES.has(closeCode)) {
      this.setState('refused', words);
      return this.finish(new CallError(code ?? 'connect_failed', words, closeCode));
    }
    const mayRetry = this.everJoined ? this.options.reconnect !== false : this.options.retryFirstConnect !== false;
    if (!mayRetry) {
      this.setState(this.everJoined ? 'ended' : 'refused', words);
      return this.finish(new CallError(code ?? 'connect_failed', words, closeCode));
    }
    const delay = this.policy.delayMs(this.attempt++);
    if (wasJoined) this.emit('connectionLost', { closeCode, message: words, retryInMs: delay });
    this.setState('reconnecting', `${words} Reconnecting in ${Math.max(1, Math.round(delay / 1000))} s…`);
    this.retryTimer = this.clock.setTimeout(() => void this.connect(), delay);
  }

  private async onBinary(wire: Uint8Array): Promise<void> {
    this.counts.bytesReceived += wire.length;
    const opened = await this.opener.open(wire);
    if (typeof opened === 'string') return;
    const audio = decodeAudioFrame(opened.plaintext);
    if (!audio) {
      this.counts.malformed++;
      return;
    }
    this.loss.heard(opened.senderId, opened.ctr);
    this.counts.framesReceived++;
    let sender = this.senderTexts.get(opened.senderId);
    if (sender === undefined) this.senderTexts.set(opened.senderId, (sender = senderIdToText(opened.senderId)));
    const frame: ReceivedFrame = {
      senderId: opened.senderId,
      sender,
      ctr: opened.ctr,
      level: opened.level,
      sampleRate: audio.sampleRate,
      pcm: audio.pcm,
      at: this.clock.now(),
    };
    for (const sink of this.sinks) sink.push(frame);
    this.emit('frame', frame);
  }

  private schedulePing(ws: CallSocket): void {
    const interval = this.options.pingIntervalMs ?? PING_INTERVAL_MS;
    if (!interval) return;
    const ping = () => {
      if (ws !== this.ws || !this.joined) return;
      if (ws.readyState === OPEN) ws.send(JSON.stringify({ type: 'ping', t: this.clock.now() }));
      this.pingTimer = this.clock.setTimeout(ping, interval);
    };
    this.pingTimer = this.clock.setTimeout(ping, interval);
  }

  private announce(): void {
    const n = this.peerSet.size;
    if (n) this.setState('in-call', `In call with ${n} peer${n === 1 ? '' : 's'}`);
    else this.setState('waiting', 'Waiting for the other peer to open the link…');
  }

  private setState(state: CallState, detail: string): void {
    this.emit('state', { state, detail });
  }

  private finish(error?: CallError): void {
    this.stopped = true;
    this.clock.clearTimeout(this.retryTimer);
    if (this.started && error) this.started.reject(error);
    this.started = undefined;
    this.emit('ended', { error });
  }
}
