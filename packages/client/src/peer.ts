/**
 * The Node peer: joins a line from a call link, sends audio at real time (a tone or a WAV),
 * decrypts what the other peers send, and records it. Tests, benchmarks and operators use it.
 */
import {
  CallLink,
  ERRORS,
  ErrorCode,
  FINAL_CLOSE_CODES,
  FrameOpener,
  FrameSealer,
  FRAME_MS,
  audioLevel,
  decodeAudioFrame,
  deriveLineId,
  describeClose,
  encodeAudioFrame,
  encodeJoin,
  parseServerMessage,
  randomSenderId,
} from '@studioline/protocol';
import WebSocket from 'ws';
import { AudioSource } from './audio-source.js';
import { CallRecorder } from './recorder.js';
import { Pcm } from './wav.js';

export interface PeerOptions {
  link: CallLink;
  source: AudioSource;
  /** How long to send, in seconds. */
  seconds: number;
  /** Start sending only once another peer is on the line (default true), so both sides hear all of it. */
  waitForPeer?: boolean;
  /** Give up when no other peer has joined after this long (default 60000 ms). */
  peerTimeoutMs?: number;
  /** Keep what is heard for {@link PeerSummary.recording} (default false). */
  record?: boolean;
  /** Reconnect by itself when the connection drops or the server drains (default true). */
  reconnect?: boolean;
  /** Sent as the Origin header (browsers always send one; the Node peer none by default). */
  origin?: string;
  /** Extra CA certificates (PEM) to trust for wss:// (a private CA). */
  ca?: string | Buffer;
  /** Progress messages for a person (e.g. to stderr). */
  onProgress?: (message: string) => void;
  /** Each frame heard (decrypted), with its arrival time (performance.now()), for gap analysis. */
  onAudio?: (senderId: bigint, ctr: bigint, at: number) => void;
  /** Each frame sent, with its sender id, counter and send time (performance.now()), for latency on one clock. */
  onSent?: (senderId: bigint, ctr: bigint, at: number) => void;
  /** Every server message, for tests that watch the protocol. */
  onServerMessage?: (message: Record<string, unknown>) => void;
  /** Stops the call early. */
  signal?: AbortSignal;
}

export interface PeerSummary {
  sent: number;
  received: number;
  /** Bytes of wire frames sent and received (what the gateway counts). */
  bytesSent: number;
  bytesReceived: number;
  lost: number;
  replayed: number;
  decryptFailed: number;
  malformed: number;
  reconnects: number;
  /** Frames due while not connected, or skipped because the socket could not keep up. */
  unsent: number;
  /** Warnings the gateway sent without closing (over_budget, malformed_frame). */
  warnings: Partial<Record<ErrorCode, number>>;
  recording?: Pcm;
}

/** A refusal by the server, or a call that could not start. */
export class PeerError extends Error {
  constructor(
    readonly code: ErrorCode | 'no_peer' | 'connect_failed',
    message: string,
    readonly closeCode?: number,
  ) {
    super(message);
    this.name = 'PeerError';
  }
}

/** Frames are skipped rather than queued when this much is still unsent. */
const MAX_BUFFERED_BYTES = 512 * 1024;
/** After sending, wait for the other side's last frames until it has been quiet this long. */
const QUIET_MS = 500;
const MAX_LINGER_MS = 3000;

export class NodePeer {
  private readonly opener: FrameOpener;
  private readonly recorder = new CallRecorder();
  private readonly summary: PeerSummary = { sent: 0, received: 0, bytesSent: 0, bytesReceived: 0, lost: 0, replayed: 0, decryptFailed: 0, malformed: 0, reconnects: 0, unsent: 0, warnings: {} };
  private ws?: WebSocket;
  private sealer?: FrameSealer;
  private joined = false;
  private readonly peers = new Set<string>();
  private lastReceivedAt = 0;
  private finished = false;
  private peerArrived?: () => void;
  private lineId?: string;

  constructor(private readonly options: PeerOptions) {
    if (!options.link.leafBytes) throw new PeerError('bad_request', 'the link has no leaf key: make one with `studioline link`');
    this.opener = new FrameOpener(options.link.leafBytes);
  }

  private progress(message: string): void {
    this.options.onProgress?.(message);
  }

  /** Runs the whole call; resolves with the summary, rejects with a {@link PeerError} on refusal. */
  async run(): Promise<PeerSummary> {
    this.lineId = await deriveLineId(this.options.link.leafBytes as Uint8Array);
    await this.connect();
    try {
      if (this.options.waitForPeer !== false && this.peers.size === 0) await this.waitForPeer();
      await this.sendForDuration();
      await this.linger();
    } finally {
      this.finished = true;
      this.ws?.close(1000, 'done');
    }
    this.summary.received = this.opener.stats.received;
    this.summary.replayed = this.opener.stats.replayed;
    this.summary.decryptFailed = this.opener.stats.decryptFailed;
    this.summary.malformed = this.opener.stats.malformed;
    this.summary.lost = this.recorder.lost;
    if (this.options.record) this.summary.recording = this.recorder.toPcm();
    return this.summary;
  }

  /** Opens a socket and joins; rejects with the server's refusal. */
  private async connect(): Promise<void> {
    const senderId = randomSenderId();
    this.sealer = await FrameSealer.create(this.options.link.leafBytes as Uint8Array, senderId);
    const headers: Record<string, string> = this.options.origin ? { Origin: this.options.origin } : {};
    const ws = new WebSocket(this.options.link.websocketUrl, { perMessageDeflate: false, headers, ca: this.options.ca });
    this.ws = ws;
    this.joined = false;
    await new Promise<void>((resolve, reject) => {
      let lastError: { code: ErrorCode; message: string } | undefined;
      ws.on('open', () => {
        ws.send(encodeJoin(this.options.link.apiKey, this.lineId as string, senderId, this.options.source.sampleRate));
      });
      ws.on('unexpected-response', (_req, res) => {
        const status = res.statusCode ?? 0;
        const code: ErrorCode | 'connect_failed' = status === 403 ? 'bad_origin' : status === 429 ? 'too_many_attempts' : status === 503 ? 'draining' : 'connect_failed';
        reject(new PeerError(code, `the server refused the websocket with HTTP ${status}: ${code in ERRORS ? ERRORS[code as ErrorCode].message : res.statusMessage}`));
        res.resume();
        ws.terminate();
      });
      ws.on('error', (err) => {
        if (!this.joined) reject(new PeerError('connect_failed', `cannot connect to ${this.options.link.websocketUrl}: ${err.message}`));
      });
      ws.on('message', (data, isBinary) => {
        if (isBinary) return void this.onFrame(data as Buffer);
        const msg = parseServerMessage(data.toString());
        if (!msg) return;
        this.options.onServerMessage?.(msg as unknown as Record<string, unknown>);
        if (msg.type === 'joined') {
          this.joined = true;
          this.peers.clear();
          for (const p of msg.peers) this.peers.add(p);
          this.progress(`joined the line (${msg.peers.length} other peer${msg.peers.length === 1 ? '' : 's'})`);
          if (this.peers.size) this.peerArrived?.();
          resolve();
        } else if (msg.type === 'peer_joined') {
          this.peers.add(msg.sender);
          this.progress('a peer joined');
          this.peerArrived?.();
        } else if (msg.type === 'peer_left') {
          this.peers.delete(msg.sender);
          this.opener.forget(BigInt('0x' + msg.sender));
          this.progress('a peer left');
        } else if (msg.type === 'error') {
          lastError = { code: msg.code, message: msg.message };
          this.summary.warnings[msg.code] = (this.summary.warnings[msg.code] ?? 0) + 1;
          // The gateway is going away: reconnect now rather than wait out the close handshake.
          if (msg.code === 'draining' && this.joined) ws.terminate();
        }
      });
      ws.on('close', (closeCode, reasonBuffer) => {
        const reason = reasonBuffer.toString();
        const described = describeClose(closeCode, reason, lastError);
        const code = described.code;
        const message = described.message ?? `connection closed (${closeCode})`;
        if (!this.joined) return reject(new PeerError(code ?? 'connect_failed', message, closeCode));
        this.joined = false;
        if (this.finished || ws !== this.ws) return;
        if (FINAL_CLOSE_CODES.has(closeCode) || this.options.reconnect === false) {
          this.progress(`the server closed the call: ${message}`);
          this.fatal = new PeerError(code ?? 'connect_failed', message, closeCode);
          return;
        }
        this.progress(`connection lost (${closeCode}${reason ? ' ' + reason : ''}); reconnecting`);
        void this.reconnect();
      });
    });
  }

  /** Set when the server ended the call for good; the send loop stops and run() rejects. */
  private fatal?: PeerError;

  private async reconnect(): Promise<void> {
    for (let attempt = 0; !this.finished; attempt++) {
      await sleep(Math.min(100 * 2 ** attempt, 2000));
      if (this.finished) return;
      try {
        await this.connect();
        this.summary.reconnects++;
        this.progress('reconnected');
        return;
      } catch (err) {
        if (err instanceof PeerError && err.closeCode !== undefined && FINAL_CLOSE_CODES.has(err.closeCode)) {
          this.fatal = err;
          return;
        }
      }
    }
  }

  private waitForPeer(): Promise<void> {
    const timeoutMs = this.options.peerTimeoutMs ?? 60_000;
    this.progress('waiting for another peer to join');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new PeerError('no_peer', `no other peer joined within ${timeoutMs / 1000} s`)), timeoutMs);
      this.peerArrived = () => {
        clearTimeout(timer);
        this.peerArrived = undefined;
        resolve();
      };
    });
  }

  private async onFrame(frame: Buffer): Promise<void> {
    this.summary.bytesReceived += frame.length;
    const opened = await this.opener.open(frame);
    if (typeof opened === 'string') return;
    this.lastReceivedAt = performance.now();
    this.options.onAudio?.(opened.senderId, opened.ctr, this.lastReceivedAt);
    const audio = decodeAudioFrame(opened.plaintext);
    if (audio && this.options.record) this.recorder.add(opened.senderId, opened.ctr, audio.sampleRate, audio.pcm);
    else if (audio) this.recorder.add(opened.senderId, opened.ctr, audio.sampleRate, EMPTY);
  }

  /** Sends frame after frame on the real-time clock: due frames that cannot go are skipped, never queued. */
  private async sendForDuration(): Promise<void> {
    const total = Math.round((this.options.seconds * 1000) / FRAME_MS);
    const start = performance.now();
    const { source } = this.options;
    for (let index = 0; index < total; ) {
      if (this.fatal) throw this.fatal;
      if (this.options.signal?.aborted) return;
      const due = Math.min(total, Math.floor((performance.now() - start) / FRAME_MS) + 1);
      for (; index < due; index++) {
        const ws = this.ws;
        if (!ws || !this.joined || !this.sealer || ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > MAX_BUFFERED_BYTES) {
          this.summary.unsent++;
          continue;
        }
        const pcm = source.frame(index);
        const sealer = this.sealer;
        const ctr = sealer.sealed;
        const wire = await sealer.seal(audioLevel(pcm), encodeAudioFrame(source.sampleRate, pcm));
        ws.send(wire);
        this.options.onSent?.(sealer.senderId, ctr, performance.now());
        this.summary.sent++;
        this.summary.bytesSent += wire.length;
      }
      await sleep(Math.max(0, start + index * FRAME_MS - performance.now()));
    }
    if (this.fatal) throw this.fatal;
  }

  private async linger(): Promise<void> {
    const until = performance.now() + MAX_LINGER_MS;
    while (performance.now() < until && performance.now() - this.lastReceivedAt < QUIET_MS && this.peers.size) await sleep(50);
  }
}

const EMPTY = new Int16Array(0);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
