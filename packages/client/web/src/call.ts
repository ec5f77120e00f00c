/**
 * One peer's connection to its line from the browser: join, seal and send frames, open what
 * arrives, keep figures, and reconnect with backoff unless the server refused for good.
 */
import {
  CallLink,
  ErrorCode,
  FINAL_CLOSE_CODES,
  FrameOpener,
  FrameSealer,
  AudioFrame,
  audioLevel,
  decodeAudioFrame,
  deriveLineId,
  describeClose,
  encodeAudioFrame,
  encodeJoin,
  parseServerMessage,
  randomSenderId,
  senderIdToText,
} from '@studioline/protocol';

export type CallState = 'connecting' | 'waiting' | 'in-call' | 'reconnecting' | 'refused' | 'ended';

export interface CallFigures {
  bytesSent: number;
  bytesReceived: number;
  framesSent: number;
  framesReceived: number;
  lost: number;
  replayed: number;
  decryptFailed: number;
  rttMs?: number;
}

export interface CallEvents {
  onState(state: CallState, detail: string): void;
  onPeers(peers: string[]): void;
  onFrame(sender: string, ctr: number, level: number, frame: AudioFrame): void;
  onPeerLeft(sender: string): void;
}

export class CallClient {
  readonly figures: CallFigures = { bytesSent: 0, bytesReceived: 0, framesSent: 0, framesReceived: 0, lost: 0, replayed: 0, decryptFailed: 0 };
  private readonly opener: FrameOpener;
  private ws?: WebSocket;
  private sealer?: FrameSealer;
  private joined = false;
  private peers = new Set<string>();
  private highest = new Map<string, number>();
  private attempt = 0;
  private stopped = false;
  private pingTimer?: number;
  private lineId?: string;

  constructor(
    private readonly link: CallLink,
    private readonly sampleRate: number,
    private readonly events: CallEvents,
  ) {
    this.opener = new FrameOpener(link.leafBytes as Uint8Array);
  }

  async start(): Promise<void> {
    this.lineId = await deriveLineId(this.link.leafBytes as Uint8Array);
    await this.connect();
  }

  private async connect(): Promise<void> {
    const senderId = randomSenderId();
    this.sealer = await FrameSealer.create(this.link.leafBytes as Uint8Array, senderId);
    this.events.onState(this.attempt ? 'reconnecting' : 'connecting', 'Connecting…');
    // The page is served by the gateway: connect to the same host, whatever the link says.
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    let lastError: { code: ErrorCode; message: string } | undefined;
    ws.onopen = () => {
      ws.send(encodeJoin(this.link.apiKey, this.lineId as string, senderId, this.sampleRate));
    };
    ws.onmessage = (e) => {
      if (e.data instanceof ArrayBuffer) return void this.onBinary(new Uint8Array(e.data));
      const msg = parseServerMessage(String(e.data));
      if (!msg) return;
      if (msg.type === 'joined') {
        this.joined = true;
        this.attempt = 0;
        this.peers = new Set(msg.peers);
        this.events.onPeers([...this.peers]);
        this.announce();
        this.pingTimer = window.setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'ping', t: performance.now() })), 2000);
      } else if (msg.type === 'peer_joined') {
        this.peers.add(msg.sender);
        this.events.onPeers([...this.peers]);
        this.announce();
      } else if (msg.type === 'peer_left') {
        this.peers.delete(msg.sender);
        this.events.onPeers([...this.peers]);
        this.events.onPeerLeft(msg.sender);
        this.announce();
      } else if (msg.type === 'pong') {
        this.figures.rttMs = performance.now() - msg.t;
      } else if (msg.type === 'error') {
        lastError = { code: msg.code, message: msg.message };
        if (msg.code === 'draining') {
          // The gateway is going away: connect again now (through another gateway) instead of
          // waiting out the old socket's close handshake.
          ws.onclose = null;
          ws.close();
          clearInterval(this.pingTimer);
          this.joined = false;
          this.events.onState('reconnecting', `${msg.message} Reconnecting…`);
          void this.connect();
        }
      }
    };
    ws.onclose = (e) => {
      clearInterval(this.pingTimer);
      this.joined = false;
      if (this.stopped) return;
      const words = describeClose(e.code, e.reason, lastError).message ?? 'The connection to the server was lost.';
      if (FINAL_CLOSE_CODES.has(e.code)) {
        this.events.onState('refused', words);
        return;
      }
      const delay = Math.min(10_000, 500 * 2 ** this.attempt++);
      this.events.onState('reconnecting', `${words} Reconnecting in ${Math.round(delay / 1000) || 1} s…`);
      window.setTimeout(() => void this.connect(), delay);
    };
  }

  private announce(): void {
    if (this.peers.size) this.events.onState('in-call', `In call with ${this.peers.size} peer${this.peers.size === 1 ? '' : 's'}`);
    else this.events.onState('waiting', 'Waiting for the other peer to open the link…');
  }

  /** Seals and sends one frame of this page's audio (dropped while not joined or while the socket backs up). */
  async send(pcm: Int16Array): Promise<void> {
    const ws = this.ws;
    if (!ws || !this.joined || !this.sealer || ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > 256 * 1024) return;
    const wire = await this.sealer.seal(audioLevel(pcm), encodeAudioFrame(this.sampleRate, pcm));
    ws.send(wire);
    this.figures.bytesSent += wire.length;
    this.figures.framesSent++;
  }

  private async onBinary(wire: Uint8Array): Promise<void> {
    this.figures.bytesReceived += wire.length;
    const opened = await this.opener.open(wire);
    this.figures.replayed = this.opener.stats.replayed;
    this.figures.decryptFailed = this.opener.stats.decryptFailed;
    if (typeof opened === 'string') return;
    const frame = decodeAudioFrame(opened.plaintext);
    if (!frame) return;
    const sender = senderIdToText(opened.senderId);
    const ctr = Number(opened.ctr);
    const highest = this.highest.get(sender);
    if (highest !== undefined && ctr > highest + 1) this.figures.lost += ctr - highest - 1;
    if (highest === undefined || ctr > highest) this.highest.set(sender, ctr);
    this.figures.framesReceived++;
    this.events.onFrame(sender, ctr, opened.level, frame);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.pingTimer);
    this.ws?.close(1000, 'bye');
    this.events.onState('ended', 'Call ended.');
  }
}
