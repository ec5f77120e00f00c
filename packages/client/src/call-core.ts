/**
 * The call core: one peer's connection to its line, shared by the web page and the Node peer.
 * It joins, seals and sends frames (skipping them, never queueing, while the socket backs up),
 * opens what arrives and hands each frame to its sinks, keeps the figures, pings for the round
 * trip, and reconnects by its policy with a new sender id each time unless the server refused for
 * good. The transport is any WebSocket-like object (the browser's WebSocket, `ws`); the media
 * (capture, playback, WAV files, tones) and the UI live outside and build on its typed events.
 *
 * Layers: with a compact codec, a full-rate peer also sends each frame as Opus (the compact layer,
 * its own SFrame stream), and a `mobile` peer sends and receives only that. Compact frames that
 * arrive are decoded to 48 kHz PCM here, so every sink sees PCM whatever the layer. Both layers
 * number a frame alike, so when the gateway steps this peer down to the compact layer while its
 * link queues the audio, and back up, each sender's frames go on in one stream.
 *
 * Membership (issue 14, a link with `host=`): audio is sealed and opened under the epoch secret the
 * membership holds (none before this session is admitted: nothing is sent), and membership
 * messages travel on each session's control stream under the link's leaf (membership-wire.ts);
 * the core seals and opens them, the membership (membership.ts) decides what they mean.
 */
import {
  COMPACT_SAMPLE_RATE,
  CallLink,
  ERRORS,
  ErrorCode,
  FINAL_CLOSE_CODES,
  FrameOpener,
  FrameSealer,
  COMPACT_LAYER_ONLY,
  CONTROL_KID_TAG,
  CONTROL_LEVEL,
  JoinLayers,
  LAYER_COMPACT,
  LAYER_FULL,
  LayerChangeReason,
  LayerName,
  OpenFailure,
  OpenedFrame,
  ServerMessage,
  audioLevel,
  decodeAudioFrame,
  decodeOpusFrame,
  deriveLineId,
  describeClose,
  encodeAudioFrame,
  encodeJoin,
  encodeOpusFrame,
  layerNumber,
  parseServerMessage,
  randomSenderId,
  senderIdToText,
  upgradeRefusalForStatus,
  wireControlSender,
} from '@studioline/protocol';
import { PING_INTERVAL_MS, SEND_BUFFER_LIMIT_BYTES } from './call-constants.js';
import { CallFigures, LossCounter, emptyFigures } from './call-stats.js';
import type { AudioOpener } from './epoch-opener.js';
import { CompactCodec, CompactDecoder, CompactEncoder, CompactFrameSource, CompactPacketizer, DecodedCompactFrame } from './compact-codec.js';
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
    readonly code: ErrorCode | 'no_peer' | 'connect_failed' | 'excluded',
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
  /** The layer it came on (LAYER_FULL, LAYER_COMPACT). `ctr` is the sender's frame clock, the same on every layer. */
  layer: number;
  /** A compact frame that never arrived and was rebuilt (fec) or concealed (plc) by the decoder; undefined for frames that arrived. */
  rebuilt?: Exclude<CompactFrameSource, 'decoded'>;
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
  layer: number;
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
  /** Membership: this session's audio is under a new epoch's secret from counter `fromCtr` on (per layer). */
  rekeyed: { senderId: bigint; layer: number; fromCtr: bigint };
  /** The gateway warned without closing (over_budget, malformed_frame). */
  warning: { code: ErrorCode; message: string };
  /** The connection was lost; the core tries again in `retryInMs`. */
  connectionLost: { closeCode: number; message: string; retryInMs: number };
  /** The call is over: stopped (no error), or refused or lost for good. */
  ended: { error?: CallError };
  /** Every control message from the gateway, for tests that watch the protocol. */
  serverMessage: ServerMessage;
  /** The compact codec failed on a frame (counted in the figures as codecErrors). */
  codecError: { message: string };
  /**
   * The best layer the gateway sends now: stepped down while this peer's link queues the audio
   * (`reason` congested), back up after a calm spell (calm); no reason at a session's start.
   */
  receiving: { layer: LayerName; reason?: LayerChangeReason };
}

/** What the core needs of a membership (membership.ts): the epoch's secret and where control messages go. */
export interface CoreMembership {
  /** Opens audio under the epochs' secrets. */
  readonly opener: AudioOpener;
  /** The current epoch's secret; undefined before this session is admitted (then nothing is sent). */
  secret(): Uint8Array | undefined;
  /** A control message from `senderId` on `core`'s line, opened (what it says is not yet checked). */
  onControl(core: CallCore, senderId: bigint, plaintext: Uint8Array): void;
  /** A control frame that did not open: forged without the link, replayed, cut short. */
  onControlRejected(core: CallCore, reason: OpenFailure): void;
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
  /**
   * The compact layer's codec (WebCodecs in the page, libopus in the Node peer). Without one the
   * core sends only the full layer, and compact frames that arrive are counted malformed.
   */
  codec?: CompactCodec;
  /** With a codec: send the compact layer beside the full one (default true). */
  sendCompact?: boolean;
  /** A `mobile=1` peer: send and receive only the compact layer (needs a codec; captured at any rate, sent at 48 kHz). */
  mobile?: boolean;
  /** The line's membership, on a link with `host=` (member-call.ts makes it); without one, audio is under the leaf. */
  membership?: CoreMembership;
}

/** The layers a core sends and wants, from its options. */
export function layersOf(options: Pick<CallCoreOptions, 'codec' | 'sendCompact' | 'mobile'>): JoinLayers {
  if (options.mobile) return COMPACT_LAYER_ONLY;
  return { layers: options.codec && options.sendCompact !== false ? ['full', 'compact'] : ['full'], receive: 'full' };
}

/** One sender's compact decoder, and the arrival of each packet it has not decoded yet. */
interface SenderDecoder {
  decoder: CompactDecoder;
  arrivals: Map<bigint, { level: number; at: number }>;
}

/** Packets a decoder may hold undecoded (an asynchronous one) before their arrival records are dropped. */
const MAX_PENDING_DECODES = 64;

/** This session's sealers, one per layer it sends, and its control stream's. */
interface Sealers {
  senderId: bigint;
  full?: FrameSealer;
  compact?: FrameSealer;
  control: FrameSealer;
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
  private readonly opener: AudioOpener;
  private readonly controlOpener: FrameOpener;
  /** The sealers of the connection being made or held (rekeyed in place when the epoch changes). */
  private connSealers?: Sealers;
  private rekeying: Promise<void> = Promise.resolve();
  /** True while sealers are being rekeyed: a frame waits for the new key rather than go out under the old one. */
  private rekeyBusy = false;
  private readonly loss = new LossCounter();
  /**
   * The frame clock: captured frames handed to send() while joined. Every layer seals frame n's
   * audio under counter n (a compact frame too: the packetizer makes one per captured frame), so a
   * receiver the relay switches between layers of this sender finds its place in one stream.
   */
  private frames = 0n;
  /** The counter of the first frame after the last pause (it, and its compact twin, go out marked as a talk spurt's start). */
  private spurtStart?: bigint;
  private compactSpurtMarked = true;
  private readonly counts = emptyFigures();
  private readonly sinks = new Set<FrameSink>();
  private readonly clock: CallClock;
  private readonly policy: ReconnectPolicy;
  private readonly peerSet = new Set<string>();
  /** Sender ids as text, made once per sender rather than once per frame. */
  private readonly senderTexts = new Map<bigint, string>();
  private lineId?: string;
  private ws?: CallSocket;
  private sealers?: Sealers;
  private readonly layers: JoinLayers;
  private readonly decoders = new Map<bigint, SenderDecoder>();
  private compactEncoder?: CompactEncoder;
  private packetizer?: CompactPacketizer;
  /** The level of the last frame handed to the compact encoder, for the packets it makes. */
  private compactLevel = 127;
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
    if (options.mobile && !options.codec) throw new CallError('bad_request', 'a mobile peer needs the compact codec');
    this.opener = options.membership?.opener ?? new FrameOpener(options.link.leafBytes);
    this.controlOpener = new FrameOpener(options.link.leafBytes, undefined, (layer) => layer === CONTROL_KID_TAG);
    this.clock = options.clock ?? REAL_CLOCK;
    this.policy = options.policy ?? new ReconnectPolicy();
    this.layers = layersOf(options);
  }

  /** The layers this peer sends and the best it wants, as its joins say. */
  get joinLayers(): JoinLayers {
    return this.layers;
  }

  /** True when it sends the compact layer (so a caller with 48 kHz audio at hand may pass it to send). */
  get sendsCompact(): boolean {
    return this.layers.layers.includes('compact');
  }

  /** Connects and joins; resolves once joined, rejects if the call ends before that. */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.started = { resolve, reject };
      Promise.all([deriveLineId(this.options.link.leafBytes as Uint8Array), this.prepareCompact()]).then(
        ([line]) => {
          this.lineId = line;
          void this.connect();
        },
        (err: Error) => this.finish(new CallError('connect_failed', `cannot start the call: ${err.message}`)),
      );
    });
  }

  /**
   * Loads the codec before the first frame. (A rate converter, when one is needed, loads with the
   * first frame: the page has them loaded already, and until then it holds the audio, losing none.)
   */
  private async prepareCompact(): Promise<void> {
    const { codec, sampleRate } = this.options;
    if (!codec) return;
    await codec.prepare();
    if (!this.sendsCompact || this.stopped) return;
    this.compactEncoder = codec.encoder(
      (packet, ctr) => void this.sendCompact(packet, ctr),
      (err) => this.onCodecError(err),
    );
    const encoder = this.compactEncoder;
    this.packetizer = new CompactPacketizer(sampleRate, (frame, ctr) => encoder.encode(frame, ctr));
  }

  /** Ends the call: closes the socket, cancels any retry. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clock.clearTimeout(this.retryTimer);
    this.clock.clearTimeout(this.pingTimer);
    this.joined = false;
    this.ws?.close(1000, 'bye');
    this.closeCodecs();
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

  /** The line id the servers route this call by (once started). */
  get line(): string | undefined {
    return this.lineId;
  }

  /** This session's sender id while joined. */
  get senderId(): bigint | undefined {
    return this.joined ? this.sealers?.senderId : undefined;
  }

  /**
   * Seals a membership message on this session's control stream and sends it to every other peer
   * of the line. Never skipped for backpressure (it is small and rare); false when not joined.
   */
  async sendControl(plaintext: Uint8Array): Promise<boolean> {
    const ws = this.ws;
    const sealers = this.sealers;
    if (!ws || !sealers || !this.joined || ws.readyState !== OPEN) return false;
    const wire = await sealers.control.seal(CONTROL_LEVEL, plaintext);
    if (ws !== this.ws || !this.joined || ws.readyState !== OPEN) return false;
    ws.send(wire);
    this.counts.controlSent++;
    return true;
  }

  /** The epoch changed (membership): audio is sealed under `secret` from the next frame on. */
  rekey(secret: Uint8Array): Promise<void> {
    this.rekeyBusy = true;
    const run = (this.rekeying = this.rekeying.then(async () => {
      const s = this.connSealers;
      if (s) this.commitAudio(s, await this.audioSealers(s, secret));
      if (this.rekeying === run) this.rekeyBusy = false;
    }));
    return run;
  }

  /**
   * Derives the sealers of `secret` ahead (frames go on under the current key meanwhile); the
   * function returned switches to them at once. The host makes its new epoch's keys this way before
   * it announces the epoch, so its own audio does not wait for the derivation.
   */
  async prepareRekey(secret: Uint8Array): Promise<() => void> {
    const s = this.connSealers;
    const next = s ? await this.audioSealers(s, secret) : undefined;
    return () => {
      if (s && next && s === this.connSealers) this.commitAudio(s, next);
      else void this.rekey(secret);
    };
  }

  /** Puts the audio sealers of `s` under `secret` (a new stream of each layer it sends, or the same one rekeyed). */
  private async keyAudio(s: Sealers, secret: Uint8Array): Promise<void> {
    const next = await this.audioSealers(s, secret);
    s.full = next.full;
    s.compact = next.compact;
  }

  private async audioSealers(s: Sealers, secret: Uint8Array): Promise<Pick<Sealers, 'full' | 'compact'>> {
    const sends = this.layers.layers;
    const [full, compact] = await Promise.all([
      sends.includes('full') ? (s.full ? s.full.rekeyed(secret) : FrameSealer.create(secret, s.senderId, LAYER_FULL)) : undefined,
      sends.includes('compact') ? (s.compact ? s.compact.rekeyed(secret) : FrameSealer.create(secret, s.senderId, LAYER_COMPACT)) : undefined,
    ]);
    return { full, compact };
  }

  /** Switches `s` to sealers made ahead, each going on from the counter its predecessor reached. */
  private commitAudio(s: Sealers, next: Pick<Sealers, 'full' | 'compact'>): void {
    if (next.full && s.full) next.full.continueAfter(s.full);
    if (next.compact && s.compact) next.compact.continueAfter(s.compact);
    s.full = next.full;
    s.compact = next.compact;
    for (const sealer of [s.full, s.compact]) if (sealer) this.emit('rekeyed', { senderId: s.senderId, layer: sealer.layer, fromCtr: sealer.sealed });
  }

  /** A snapshot of the figures. */
  figures(): CallFigures {
    const o = this.opener.stats;
    return { ...this.counts, warnings: { ...this.counts.warnings }, lost: this.loss.lost, longestGap: this.loss.longestGap, replayed: o.replayed, decryptFailed: o.decryptFailed, malformed: o.malformed + this.counts.malformed };
  }

  /**
   * Seals and sends one frame of PCM at this peer's rate, on each layer it sends. The full layer's
   * frame is sealed and sent first; then the compact encoder takes the frame (every frame while
   * joined; its output is sent when it comes, the page's asynchronously). Returns false (and counts why)
   * when the full frame was not sent: not joined, or the socket still holds too much unsent.
   * `at48k`, when the caller has it, is the same audio at 48 kHz for the compact encoder (no
   * conversion then).
   */
  async send(pcm: Int16Array, at48k?: Int16Array): Promise<boolean> {
    const ws = this.ws;
    const sealers = this.sealers;
    if (!ws || !sealers || !this.joined || ws.readyState !== OPEN || (this.options.membership && !sealers.full && !sealers.compact)) {
      this.counts.unsentDisconnected++;
      return false;
    }
    if (this.rekeyBusy) await this.rekeying;
    const level = audioLevel(pcm);
    const sealer = sealers.full;
    const ctr = this.frames++;
    const spurtStart = ctr === this.spurtStart;
    let sent = true;
    if (sealer) {
      if (!this.socketCanTake(ws)) sent = false;
      else {
        const wire = await sealer.seal(level, encodeAudioFrame(this.options.sampleRate, pcm), ctr, spurtStart);
        sent = this.sendSealed(ws, sealer, ctr, wire);
      }
    }
    // Only then the compact layer: its rate conversion and encoding (about 1.5 ms of CPU per frame
    // at 200 kHz) must not hold the full frame back.
    if (this.packetizer) {
      this.compactLevel = level;
      this.packetizer.push(pcm, at48k);
    }
    return sent;
  }

  /**
   * `count` captured frames were not handed to send() (a sender that fell too far behind real
   * time skips them): the frame clock moves past them on every layer, so the counters of the
   * frames after them still say when they were captured (a receiver measures queueing by them).
   */
  skip(count: number): void {
    this.frames += BigInt(count);
    this.packetizer?.skip(count);
  }

  /**
   * `count` captured frames are not sent on purpose: push-to-talk is up, or the peer is muted or
   * listens only (talk-gate.ts). The frame clock moves on, so each sender's timeline stays true to
   * the wall clock (a recording keeps the pauses), and the next frame sent is marked as a talk
   * spurt's start, so listeners do not count the pause as lost frames.
   */
  pause(count = 1): void {
    this.skip(count);
    this.spurtStart = this.frames;
    this.compactSpurtMarked = false;
  }

  /**
   * Seals and sends the compact encoder's packet of frame `ctr`, if the session that asked for it
   * still can. A packet whose counter this session's sealer has passed already (one out of order)
   * is dropped: a counter is never used twice.
   */
  private async sendCompact(packet: Uint8Array, ctr: bigint): Promise<void> {
    const ws = this.ws;
    const sealer = this.sealers?.compact;
    if (!ws || !sealer || !this.joined || ws.readyState !== OPEN || ctr < sealer.sealed) {
      this.counts.unsentDisconnected++;
      return;
    }
    if (!this.socketCanTake(ws)) return;
    // The first compact frame at or after the spurt's start carries the mark (the converter may hold a frame back).
    const spurtStart = !this.compactSpurtMarked && this.spurtStart !== undefined && ctr >= this.spurtStart;
    if (spurtStart) this.compactSpurtMarked = true;
    const wire = await sealer.seal(this.compactLevel, encodeOpusFrame(packet), ctr, spurtStart);
    if (!this.sendSealed(ws, sealer, ctr, wire)) return;
    this.counts.compactFramesSent++;
    this.counts.compactBytesSent += wire.length;
  }

  /** False (and counted) while the socket holds too much unsent: the frame is skipped, never queued. */
  private socketCanTake(ws: CallSocket): boolean {
    if (ws.bufferedAmount <= (this.options.sendBufferLimitBytes ?? SEND_BUFFER_LIMIT_BYTES)) return true;
    this.counts.unsentBackpressure++;
    return false;
  }

  private sendSealed(ws: CallSocket, sealer: FrameSealer, ctr: bigint, wire: Uint8Array): boolean {
    // The socket may have gone while sealing: the frame belongs to that session only.
    if (ws !== this.ws || !this.joined || ws.readyState !== OPEN) {
      this.counts.unsentDisconnected++;
      return false;
    }
    ws.send(wire);
    this.counts.framesSent++;
    this.counts.bytesSent += wire.length;
    this.emit('sent', { senderId: sealer.senderId, layer: sealer.layer, ctr, at: this.clock.now(), bytes: wire.length });
    return true;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const senderId = randomSenderId();
    const leaf = this.options.link.leafBytes as Uint8Array;
    const sealers: Sealers = { senderId, control: await FrameSealer.create(leaf, senderId, CONTROL_KID_TAG) };
    // Audio under the leaf, or under the epoch's secret on a line with membership (none yet: no audio sealer).
    await (this.rekeying = this.rekeying.then(async () => {
      const secret = this.options.membership ? this.options.membership.secret() : leaf;
      if (secret) await this.keyAudio(sealers, secret);
      this.connSealers = sealers;
    }));
    if (this.stopped) return;
    this.setState(this.everJoined ? 'reconnecting' : 'connecting', 'Connecting…');
    let refusedStatus: number | undefined;
    let socketError: string | undefined;
    let lastError: { code: ErrorCode; message: string } | undefined;
    const ws = this.options.socket(this.options.url, (status) => (refusedStatus = status));
    this.ws = ws;
    this.sealers = undefined;
    this.joined = false;
    ws.onopen = () => ws.send(encodeJoin(this.options.link.apiKey, this.lineId as string, senderId, this.options.sampleRate, { layers: this.layers, capacity: this.options.link.capacity }));
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
        this.onControl(ws, msg, senderId, sealers);
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

  private onControl(ws: CallSocket, msg: ServerMessage, senderId: bigint, sealers: Sealers): void {
    this.emit('serverMessage', msg);
    if (msg.type === 'joined') {
      this.joined = true;
      this.sealers = sealers;
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
      // A new session starts at the layer it asked for (the gateway steps it down again if need be).
      this.setReceiving(this.layers.receive);
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
      this.decoders.get(id)?.decoder.close();
      this.decoders.delete(id);
      for (const sink of this.sinks) sink.forget?.(msg.sender);
      this.emit('peerLeft', msg.sender);
      this.emit('peers', [...this.peerSet]);
      this.announce();
    } else if (msg.type === 'layer') {
      if (layerNumber(msg.layer) < 0) return;
      this.counts.layerSwitches++;
      this.setReceiving(msg.layer, msg.reason);
    } else if (msg.type === 'pong') {
      this.counts.rttMs = this.clock.now() - msg.t;
      if (typeof msg.serverMs === 'number' && Number.isFinite(msg.serverMs)) this.counts.serverMs = msg.serverMs;
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
    this.sealers = undefined;
    this.ws = undefined;
    ws.close(1000, 'reconnecting');
  }

  private onClose(closeCode: number, reason: string, code: ErrorCode | undefined, message: string | undefined): void {
    this.clock.clearTimeout(this.pingTimer);
    const wasJoined = this.joined;
    this.joined = false;
    this.sealers = undefined;
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
    if (wireControlSender(wire) >= 0) return this.onControlFrame(wire);
    const opened = await this.opener.open(wire);
    if (typeof opened === 'string') return;
    if (opened.layer === LAYER_COMPACT) return this.onCompact(opened);
    const audio = decodeAudioFrame(opened.plaintext);
    if (!audio) {
      this.counts.malformed++;
      return;
    }
    const at = this.clock.now();
    this.loss.heard(opened.senderId, opened.ctr, opened.spurtStart);
    this.counts.framesReceived++;
    this.deliver({
      senderId: opened.senderId,
      sender: this.senderText(opened.senderId),
      ctr: opened.ctr,
      level: opened.level,
      sampleRate: audio.sampleRate,
      pcm: audio.pcm,
      at,
      layer: LAYER_FULL,
    });
  }

  /** A membership message: opened under the link's leaf, handed to the membership (or counted and dropped without one). */
  private async onControlFrame(wire: Uint8Array): Promise<void> {
    const opened = await this.controlOpener.open(wire);
    const membership = this.options.membership;
    if (typeof opened === 'string') return membership?.onControlRejected(this, opened);
    this.counts.controlReceived++;
    membership?.onControl(this, opened.senderId, opened.plaintext);
  }

  /** A compact frame: to its sender's decoder, whose output (48 kHz PCM) goes to the sinks. */
  private onCompact(opened: OpenedFrame): void {
    const packet = decodeOpusFrame(opened.plaintext);
    const codec = this.options.codec;
    if (this.stopped) return;
    if (!packet || !codec) {
      this.counts.malformed++;
      return;
    }
    const at = this.clock.now();
    this.loss.heard(opened.senderId, opened.ctr, opened.spurtStart);
    this.counts.framesReceived++;
    this.counts.compactFramesReceived++;
    const { senderId } = opened;
    let state = this.decoders.get(senderId);
    if (!state) {
      const arrivals = new Map<bigint, { level: number; at: number }>();
      const decoder = codec.decoder(
        (frame) => this.onDecoded(senderId, arrivals, frame),
        (err) => this.onCodecError(err),
      );
      this.decoders.set(senderId, (state = { decoder, arrivals }));
    }
    state.arrivals.set(opened.ctr, { level: opened.level, at });
    if (state.arrivals.size > MAX_PENDING_DECODES) state.arrivals.delete(state.arrivals.keys().next().value as bigint);
    state.decoder.decode(opened.ctr, packet);
  }

  private onDecoded(senderId: bigint, arrivals: Map<bigint, { level: number; at: number }>, frame: DecodedCompactFrame): void {
    // A rebuilt frame takes the arrival of the packet that rebuilt it: it could not play before that.
    const arrival = arrivals.get(frame.packetCtr) ?? { level: 127, at: this.clock.now() };
    if (frame.source === 'decoded') arrivals.delete(frame.packetCtr);
    else if (frame.source === 'fec') this.counts.fecRecovered++;
    else this.counts.plcConcealed++;
    this.deliver({
      senderId,
      sender: this.senderText(senderId),
      ctr: frame.ctr,
      level: arrival.level,
      sampleRate: COMPACT_SAMPLE_RATE,
      pcm: frame.pcm,
      at: arrival.at,
      layer: LAYER_COMPACT,
      ...(frame.source === 'decoded' ? {} : { rebuilt: frame.source }),
    });
  }

  private deliver(frame: ReceivedFrame): void {
    for (const sink of this.sinks) sink.push(frame);
    this.emit('frame', frame);
  }

  /** Sender ids as text, made once per sender rather than once per frame. */
  private senderText(senderId: bigint): string {
    let sender = this.senderTexts.get(senderId);
    if (sender === undefined) this.senderTexts.set(senderId, (sender = senderIdToText(senderId)));
    return sender;
  }

  private onCodecError(err: Error): void {
    this.counts.codecErrors++;
    this.emit('codecError', { message: err.message });
  }

  private closeCodecs(): void {
    this.packetizer?.close();
    this.compactEncoder?.close();
    for (const { decoder } of this.decoders.values()) decoder.close();
    this.decoders.clear();
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

  /** Tells the sinks' owner the best layer it is sent now, and why it changed (absent: a new session's start). */
  private setReceiving(layer: LayerName, reason?: LayerChangeReason): void {
    this.emit('receiving', { layer, reason });
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
    this.closeCodecs();
    this.clock.clearTimeout(this.retryTimer);
    if (this.started && error) this.started.reject(error);
    this.started = undefined;
    this.emit('ended', { error });
  }
}
