/**
 * The Node peer: the call core plus a real-time sender (a tone or a WAV) and a recorder. Joins a
 * line from a call link, sends audio at real time, records each sender it hears. Tests,
 * benchmarks and operators use it.
 *
 * It always decodes the compact layer (libopus, opus-node.ts), so it hears `mobile=1` peers. It
 * sends the compact layer beside the full one with `compact` (the `studioline peer` command does;
 * a load generator need not pay for the encoder), and only the compact layer on a `mobile=1` link.
 *
 * On a link with `host=` (issue 14) it is a member of the line (member-call.ts): it needs an
 * identity (its name and session keys), sends nothing until the host admitted it, and follows the
 * line through rekeys.
 */
import { CallLink, ErrorCode, FRAME_MS, LAYER_COMPACT, LAYER_FULL, LayerChangeReason, LayerName, ServerMessage } from '@studioline/protocol';
import { useNodeCrypto } from '@studioline/protocol/node';
import { AudioSource } from './audio-source.js';
import { LINGER_MAX_MS, LINGER_QUIET_MS, PEER_WAIT_TIMEOUT_MS } from './call-constants.js';
import { CallCore, CallError, CallCoreOptions, FrameSink, SocketFactory } from './call-core.js';
import { MemberCall } from './member-call.js';
import type { Membership, MembershipStats } from './membership.js';
import type { SessionIdentity } from './session-identity.js';
import { nodeSocketFactory } from './node-socket.js';
import { nodeOpusCodec } from './opus-node.js';
import { Playout, SenderPlayout } from './playout.js';
import { CallRecorder, RecordedTrack } from './recorder.js';
import { SendPacer } from './send-pacer.js';
import { TalkGate } from './talk-gate.js';
import { Pcm } from './wav.js';

export interface PeerOptions {
  link: CallLink;
  source: AudioSource;
  /** How long to send, in seconds. */
  seconds: number;
  /** Start sending only once another peer is on the line (default true), so both sides hear all of it. */
  waitForPeer?: boolean;
  /** Give up when no other peer has joined after this long (default {@link PEER_WAIT_TIMEOUT_MS}). */
  peerTimeoutMs?: number;
  /** Keep what is heard for {@link PeerSummary.tracks} and {@link PeerSummary.recording} (default false). */
  record?: boolean;
  /**
   * With `record`: leave the tracks and the mix to {@link PeerSummary.mix}, called later (default
   * false). The certifier mixes once every line is done: a mix of seconds of full-rate audio blocks
   * the event loop, and would make the lines still sending late.
   */
  deferMix?: boolean;
  /** Reconnect by itself when the connection drops or the server drains (default true). */
  reconnect?: boolean;
  /**
   * Send the compact layer (Opus) beside the full one, so `mobile=1` peers hear this one (default
   * false). On a `mobile=1` link the peer sends only the compact layer whatever this says (a
   * source at 48 kHz needs no rate conversion).
   */
  compact?: boolean;
  /** The websocket to use instead of `ws` (tests wrap it, e.g. to lose frames on purpose). */
  socket?: SocketFactory;
  /** Sent as the Origin header (browsers always send one; the Node peer none by default). */
  origin?: string;
  /** Extra CA certificates (PEM) to trust for wss:// (a private CA). */
  ca?: string | Buffer;
  /** Progress messages for a person (e.g. to stderr). */
  onProgress?: (message: string) => void;
  /** Each frame heard (decrypted), with its arrival time (performance.now()), for gap analysis. */
  onAudio?: (senderId: bigint, ctr: bigint, at: number) => void;
  /** Each frame sent, with the time it went to the socket (performance.now(), the clock of onAudio). */
  onSent?: (senderId: bigint, ctr: bigint, at: number) => void;
  /**
   * Play what is heard through the page's jitter buffer on a real-time clock, for
   * {@link PeerSummary.playout} (default false: a load generator does not need it).
   */
  playout?: boolean;
  /** More places for received frames. */
  sinks?: FrameSink[];
  /** Every server message, for tests that watch the protocol. */
  onServerMessage?: (message: Record<string, unknown>) => void;
  /** Stops the call early. */
  signal?: AbortSignal;
  /** Who this peer is on a line with membership (a link with `host=`): required there, ignored elsewhere. */
  identity?: SessionIdentity;
  /** With `identity`: how long a member that dropped off may take to come back before the host rekeys it away (ms). */
  leaveGraceMs?: number;
  /** With `identity`: each time this peer's audio goes under a new epoch's key, from counter `fromCtr` of its stream on `layer`. */
  onRekeyed?: (senderId: bigint, layer: number, fromCtr: bigint) => void;
  /** With `identity`: the membership, as soon as the peer is made (to exclude, promote, watch the roster). */
  onMembership?: (membership: Membership) => void;
  /**
   * Push-to-talk: transmit only within these spans, [from, to) in seconds from the start of sending
   * (a script of key presses, faded at each edge as the page does: talk-gate.ts). Absent: a hot mic.
   */
  talk?: [number, number][];
  /** Listen only: join and hear, send nothing. */
  listenOnly?: boolean;
}

export interface PeerSummary {
  /** The layer it sends its audio on first: full, or compact for a `mobile=1` peer. */
  layer: 'full' | 'compact';
  /** Frames sent on that layer (one per 10 ms of audio), and frames received (of every layer). */
  sent: number;
  received: number;
  /** Bytes of wire frames sent (every layer) and received (what the gateway counts). */
  bytesSent: number;
  bytesReceived: number;
  /** Frames and bytes of the compact layer sent (beside the full layer; a mobile peer's only ones), and compact frames received. */
  compactSent: number;
  compactBytesSent: number;
  compactReceived: number;
  /** Compact frames that never arrived, rebuilt from the next packet's FEC or concealed by the decoder. */
  fecRecovered: number;
  plcConcealed: number;
  lost: number;
  /** The longest run of one sender's frames that never came, in frames (10 ms each). */
  longestGap: number;
  /**
   * The longest time between two frames heard, from anyone, after the first (ms): what a listener
   * heard as silence, a reconnect's gap included (a new sender id each time); pauses in the talk too.
   */
  longestSilenceMs: number;
  replayed: number;
  decryptFailed: number;
  malformed: number;
  reconnects: number;
  /** Frames due while not connected, skipped because the socket could not keep up, or too late (below). */
  unsent: number;
  /** Of those, frames skipped because this peer fell behind real time by more than SEND_MAX_LATE_MS. */
  skippedLate: number;
  /** Warnings the gateway sent without closing (over_budget, malformed_frame). */
  warnings: Partial<Record<ErrorCode, number>>;
  /** Each time the gateway stepped this peer down a layer (its link in trouble) or back up: when (ms since the epoch), to which layer, why. */
  layerSwitches: { at: number; layer: LayerName; reason: LayerChangeReason }[];
  /** With `record`: one track per sender heard (a reconnecting peer starts a new one). */
  tracks?: RecordedTrack[];
  /** With `record`: every track mixed, aligned by time; on a 1:1 line, the other peer's audio as sent. */
  recording?: Pcm;
  /** With `record`: frames heard but not recorded (over the recording's size limit). */
  notRecorded?: number;
  /** With `record` and `deferMix`: makes {@link recording} when called (tracks and mix are not made before). */
  mix?: () => Promise<Pcm>;
  /** With `playout`: each sender's jitter buffer as a listener would have had it. */
  playout?: SenderPlayout[];
  /** On a line with membership: its epoch, rekeys, and the membership messages accepted and refused (by reason). */
  membership?: MembershipStats;
}

/** A refusal by the server, or a call that could not start (the call core's error). */
export { CallError as PeerError } from './call-core.js';

export class NodePeer {
  private readonly core: CallCore | MemberCall;
  /** The membership, on a link with `host=`. */
  readonly membership?: Membership;
  private readonly recorder?: CallRecorder;
  private readonly playout?: Playout;
  private lastReceivedAt = 0;
  private longestSilenceMs = 0;
  private fatal?: CallError;
  private peerArrived?: () => void;
  private started = false;
  private skippedLate = 0;
  private readonly layerSwitches: PeerSummary['layerSwitches'] = [];
  /** The layer whose frames `onSent` reports: the full one, or the compact one of a mobile peer. */
  private readonly primaryLayer: number;

  constructor(private readonly options: PeerOptions) {
    const { link, source } = options;
    // Node's own ciphers: half the CPU of WebCrypto per frame (the web page keeps WebCrypto).
    useNodeCrypto();
    this.primaryLayer = link.mobile ? LAYER_COMPACT : LAYER_FULL;
    const coreOptions: CallCoreOptions = {
      link,
      url: link.websocketUrl,
      sampleRate: source.sampleRate,
      socket: options.socket ?? nodeSocketFactory({ origin: options.origin, ca: options.ca }),
      reconnect: options.reconnect !== false,
      // A command line fails at once when the server cannot be reached; later losses are retried.
      retryFirstConnect: false,
      codec: nodeOpusCodec,
      sendCompact: options.compact === true,
      mobile: link.mobile,
    };
    if (link.hostKey) {
      if (!options.identity) throw new CallError('bad_request', 'this link is for a line with a host (host=): the peer needs a name and session keys (an identity)');
      const call = new MemberCall({ ...coreOptions, identity: options.identity, leaveGraceMs: options.leaveGraceMs });
      this.core = call;
      this.membership = call.membership;
      options.onMembership?.(call.membership);
    } else this.core = new CallCore(coreOptions);
    if (options.record) this.core.addSink((this.recorder = new CallRecorder()));
    if (options.playout) this.core.addSink((this.playout = new Playout()));
    for (const sink of options.sinks ?? []) this.core.addSink(sink);
    this.listen();
  }

  /** The call it runs (a MemberCall on a line with membership), for tools and tests that drive it directly. */
  get call(): CallCore | MemberCall {
    return this.core;
  }

  private progress(message: string): void {
    this.options.onProgress?.(message);
  }

  private listen(): void {
    const { core, options } = this;
    core.on('serverMessage', (msg: ServerMessage) => options.onServerMessage?.(msg as unknown as Record<string, unknown>));
    // On a line with membership a peer is there for this one once the host admitted it.
    const ready = () => !this.membership || this.membership.isAdmitted;
    core.on('joined', ({ peers, rejoined }) => {
      this.progress(rejoined ? 'reconnected' : `joined the line (${peers.length} other peer${peers.length === 1 ? '' : 's'})`);
      if (peers.length && ready()) this.peerArrived?.();
    });
    core.on('peerJoined', () => {
      this.progress('a peer joined');
      if (ready()) this.peerArrived?.();
    });
    core.on('peerLeft', () => this.progress('a peer left'));
    const m = this.membership;
    if (m) {
      m.on('admitted', () => {
        this.progress('the host admitted this peer');
        if (this.core.peers.size) this.peerArrived?.();
      });
      m.on('moved', ({ reason, gone }) => this.progress(`${gone || 'a member'} ${reason === 'excluded' ? 'was excluded' : 'left'}: the line was rekeyed and moves to a new link`));
      m.on('rejected', ({ reason, kind }) => this.progress(`refused a membership message${kind ? ` (${kind})` : ''}: ${reason}`));
    }
    core.on('connectionLost', ({ message }) => this.progress(`connection lost (${message}); reconnecting`));
    core.on('frame', (frame) => {
      if (frame.rebuilt) return; // made here, not heard
      if (this.lastReceivedAt) this.longestSilenceMs = Math.max(this.longestSilenceMs, frame.at - this.lastReceivedAt);
      this.lastReceivedAt = frame.at;
      options.onAudio?.(frame.senderId, frame.ctr, frame.at);
    });
    if (options.onRekeyed) core.on('rekeyed', ({ senderId, layer, fromCtr }) => options.onRekeyed?.(senderId, layer, fromCtr));
    if (options.onSent) core.on('sent', ({ senderId, layer, ctr, at }) => layer === this.primaryLayer && options.onSent?.(senderId, ctr, at));
    core.on('receiving', ({ layer, reason }) => {
      if (!reason) return;
      this.layerSwitches.push({ at: Date.now(), layer, reason });
      this.progress(reason === 'calm' ? `back up to the ${layer} layer: the link is calm` : `stepped down to the ${layer} layer: the link is queueing audio`);
    });
    core.on('ended', ({ error }) => {
      if (!error) return;
      // Before the first join, run() rejects with the error itself; say nothing twice.
      this.fatal = error;
      if (this.started) this.progress(`the server closed the call: ${error.message}`);
    });
  }

  /** Runs the whole call; resolves with the summary, rejects with a {@link PeerError} on refusal. */
  async run(): Promise<PeerSummary> {
    await this.core.start();
    this.started = true;
    try {
      if (this.options.waitForPeer !== false && (this.core.peers.size === 0 || (this.membership && !this.membership.isAdmitted))) await this.waitForPeer();
      await this.sendForDuration();
      await this.linger();
    } catch (err) {
      // A call that ends in error (refused, excluded) stops its playout clock too, or it keeps the process alive.
      this.playout?.stop();
      throw err;
    } finally {
      this.core.stop();
    }
    const playout = this.playout?.stop();
    const f = this.core.figures();
    const mobile = this.primaryLayer === LAYER_COMPACT;
    const summary: PeerSummary = {
      layer: mobile ? 'compact' : 'full',
      sent: mobile ? f.compactFramesSent : f.framesSent - f.compactFramesSent,
      received: f.framesReceived,
      bytesSent: f.bytesSent,
      bytesReceived: f.bytesReceived,
      compactSent: f.compactFramesSent,
      compactBytesSent: f.compactBytesSent,
      compactReceived: f.compactFramesReceived,
      fecRecovered: f.fecRecovered,
      plcConcealed: f.plcConcealed,
      lost: f.lost,
      longestGap: f.longestGap,
      longestSilenceMs: Math.round(this.longestSilenceMs),
      replayed: f.replayed,
      decryptFailed: f.decryptFailed,
      malformed: f.malformed,
      reconnects: f.reconnects,
      unsent: f.unsentDisconnected + f.unsentBackpressure + this.skippedLate,
      skippedLate: this.skippedLate,
      warnings: f.warnings,
      layerSwitches: this.layerSwitches,
      ...(playout ? { playout } : {}),
      ...(this.membership ? { membership: structuredClone(this.membership.stats) } : {}),
    };
    const recorder = this.recorder;
    if (recorder) {
      summary.notRecorded = recorder.notRecorded;
      if (this.options.deferMix) summary.mix = () => recorder.mix();
      else {
        summary.tracks = recorder.tracks();
        summary.recording = await recorder.mix();
      }
    }
    return summary;
  }

  private waitForPeer(): Promise<void> {
    const timeoutMs = this.options.peerTimeoutMs ?? PEER_WAIT_TIMEOUT_MS;
    this.progress('waiting for another peer to join');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new CallError('no_peer', `no other peer joined within ${timeoutMs / 1000} s`)), timeoutMs);
      this.peerArrived = () => {
        clearTimeout(timer);
        this.peerArrived = undefined;
        resolve();
      };
    });
  }

  /**
   * Sends frame after frame on the real-time clock: due frames that the socket cannot take are
   * skipped, never queued, and so are frames that fell too far behind (see {@link SendPacer}).
   */
  private async sendForDuration(): Promise<void> {
    const pacer = new SendPacer(Math.round((this.options.seconds * 1000) / FRAME_MS));
    const { source, talk } = this.options;
    const gate = new TalkGate(talk ? 'ptt' : this.options.listenOnly ? 'listen' : 'hot', source.sampleRate);
    let expected = 0;
    try {
      while (!pacer.done) {
        if (this.fatal) throw this.fatal;
        if (this.options.signal?.aborted) return;
        const index = pacer.next();
        if (index === undefined) {
          await sleep(pacer.waitMs());
          continue;
        }
        // Skipped frames still pass on the frame clock: a frame's counter says when it was captured.
        if (index > expected) this.core.skip(index - expected);
        expected = index + 1;
        const at = index * FRAME_MS;
        if (talk?.some(([from, to]) => at >= from * 1000 && at < to * 1000)) gate.press(at);
        else gate.release();
        const frame = gate.process(source.frame(index), at);
        // Closed (push-to-talk up, listen only): nothing goes out (the frame clock moves on, as a pause).
        if (!frame) {
          this.core.pause();
          continue;
        }
        // The source's own 48 kHz audio serves the compact layer only where the gate left the frame as it was.
        await this.core.send(frame, this.core.sendsCompact && gate.talkMode === 'hot' ? source.compactFrame?.(index) : undefined);
      }
    } finally {
      this.skippedLate = pacer.skipped;
    }
    if (this.fatal) throw this.fatal;
  }

  private async linger(): Promise<void> {
    const until = performance.now() + LINGER_MAX_MS;
    while (performance.now() < until && performance.now() - this.lastReceivedAt < LINGER_QUIET_MS && this.core.peers.size) await sleep(50);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
