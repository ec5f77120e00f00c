/**
 * The Node peer on several channels over one websocket (issue 14): a {@link ChannelCall} plus a
 * real-time sender (a tone or a WAV, the same audio into every channel whose gate is open) and a
 * recorder of each sender heard, after the mix (volume and mute per channel). Each channel is hot,
 * push-to-talk along a script of spans, or listen only. `studioline peer` with several links uses it.
 */
import { CallLink, FRAME_MS, LayerChangeReason, LayerName } from '@studioline/protocol';
import { useNodeCrypto } from '@studioline/protocol/node';
import { AudioSource } from './audio-source.js';
import { LINGER_MAX_MS, LINGER_QUIET_MS, PEER_WAIT_TIMEOUT_MS } from './call-constants.js';
import { CallError, SocketFactory } from './call-core.js';
import { Channel, ChannelCall } from './channel-call.js';
import { nodeSocketFactory } from './node-socket.js';
import { nodeOpusCodec } from './opus-node.js';
import { CallRecorder, RecordedTrack } from './recorder.js';
import { SendPacer, dueFrames, talkingAt } from './send-pacer.js';
import { TalkMode } from './talk-gate.js';
import { Pcm } from './wav.js';

export interface PeerChannel {
  name: string;
  link: CallLink;
  /** Default hot; `ptt` with `talk` spans. */
  mode?: TalkMode;
  /** Push-to-talk spans, [from, to) in seconds from the start of sending: the channel's key is held then. */
  talk?: [number, number][];
  volume?: number;
  muted?: boolean;
}

export interface ChannelPeerOptions {
  channels: PeerChannel[];
  source: AudioSource;
  /** How long to send, in seconds. */
  seconds: number;
  /** Start sending only once every channel has another peer (default true). */
  waitForPeer?: boolean;
  peerTimeoutMs?: number;
  /** Keep each sender heard (after the mix) for {@link ChannelPeerSummary.tracks}. */
  record?: boolean;
  reconnect?: boolean;
  /** Send the compact layer beside the full one (default false). */
  compact?: boolean;
  socket?: SocketFactory;
  origin?: string;
  ca?: string | Buffer;
  onProgress?: (message: string) => void;
  /** The call, as soon as it is made (tests leave a channel, change a volume). */
  onCall?: (call: ChannelCall) => void;
  signal?: AbortSignal;
}

export interface ChannelSummary {
  name: string;
  /** Its number on the socket (the lowest is the lead, sent the full layer). */
  number: number;
  sent: number;
  received: number;
  compactReceived: number;
  bytesReceived: number;
  lost: number;
  replayed: number;
  decryptFailed: number;
  reconnects: number;
  unsent: number;
  /** Frames heard but not passed on because the channel or the peer was muted. */
  muted: number;
  /** Each layer change the gateway told of on this channel. */
  layerSwitches: { layer: LayerName; reason: LayerChangeReason }[];
  /** Senders heard on it (ids as text). */
  senders: string[];
  /** Set when the channel was refused or lost for good (the others went on). */
  error?: string;
}

export interface ChannelPeerSummary {
  channels: ChannelSummary[];
  skippedLate: number;
  /** With `record`: one track per sender heard, after the mix, with its channel's name. */
  tracks?: (RecordedTrack & { channel: string })[];
  recording?: Pcm;
}

export class ChannelPeer {
  readonly call: ChannelCall;
  private readonly recorder?: CallRecorder;
  private readonly senders = new Map<string, Set<string>>();
  private readonly switches = new Map<string, ChannelSummary['layerSwitches']>();
  private readonly errors = new Map<string, string>();
  private readonly finished = new Map<string, Channel>();
  private lastReceivedAt = 0;

  constructor(private readonly options: ChannelPeerOptions) {
    useNodeCrypto();
    if (options.channels.length === 0) throw new CallError('bad_request', 'a peer needs at least one channel');
    this.call = new ChannelCall({
      sampleRate: options.source.sampleRate,
      socket: options.socket ?? nodeSocketFactory({ origin: options.origin, ca: options.ca }),
      reconnect: options.reconnect !== false,
      retryFirstConnect: false,
      codec: nodeOpusCodec,
      sendCompact: options.compact === true,
    });
    if (options.record) this.call.addSink((this.recorder = new CallRecorder()));
    const say = (m: string) => options.onProgress?.(m);
    this.call.on('joined', ({ channel, peers, rejoined }) => say(`${channel}: ${rejoined ? 'reconnected' : `joined (${peers.length} other peer${peers.length === 1 ? '' : 's'})`}`));
    this.call.on('ended', ({ channel, error }) => {
      if (error) this.errors.set(channel, error.message);
      if (error) say(`${channel}: ${error.message}`);
    });
    this.call.on('receiving', ({ channel, layer, reason }) => {
      if (!reason) return;
      let list = this.switches.get(channel);
      if (!list) this.switches.set(channel, (list = []));
      list.push({ layer, reason });
    });
    this.call.on('frame', ({ channel, frame }) => {
      if (frame.rebuilt) return;
      this.lastReceivedAt = frame.at;
      let set = this.senders.get(channel);
      if (!set) this.senders.set(channel, (set = new Set()));
      set.add(frame.sender);
    });
    options.onCall?.(this.call);
  }

  async run(): Promise<ChannelPeerSummary> {
    const { options, call } = this;
    const joined = await Promise.allSettled(options.channels.map((c) => call.add({ name: c.name, link: c.link, mode: c.talk ? 'ptt' : c.mode, volume: c.volume, muted: c.muted })));
    const refused = joined.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (refused && joined.every((r) => r.status === 'rejected')) throw refused.reason;
    joined.forEach((r, i) => r.status === 'rejected' && this.errors.set(options.channels[i].name, (r.reason as Error).message));
    for (const channel of call.channels) channel.core.on('ended', () => this.finished.set(channel.name, channel));
    let skippedLate = 0;
    try {
      if (options.waitForPeer !== false) await this.waitForPeers();
      skippedLate = await this.sendForDuration();
      await this.linger();
    } finally {
      const channels = call.channels;
      call.stop();
      for (const channel of channels) this.finished.set(channel.name, channel);
    }
    const summary: ChannelPeerSummary = { channels: this.summaries(), skippedLate };
    if (this.recorder) {
      const channelOf = (sender: string) => [...this.senders].find(([, set]) => set.has(sender))?.[0] ?? '';
      summary.tracks = this.recorder.tracks().map((t) => ({ ...t, channel: channelOf(t.sender) }));
      summary.recording = await this.recorder.mix();
    }
    return summary;
  }

  private summaries(): ChannelSummary[] {
    const refused = this.options.channels
      .filter((c) => !this.finished.has(c.name) && this.errors.has(c.name))
      .map((c): ChannelSummary => ({ name: c.name, number: -1, sent: 0, received: 0, compactReceived: 0, bytesReceived: 0, lost: 0, replayed: 0, decryptFailed: 0, reconnects: 0, unsent: 0, muted: 0, layerSwitches: [], senders: [], error: this.errors.get(c.name) }));
    return [...this.finished.values()]
      .sort((a, b) => a.number - b.number)
      .map((channel) => {
        const f = channel.core.figures();
        return {
          name: channel.name,
          number: channel.number,
          sent: f.framesSent - f.compactFramesSent,
          received: f.framesReceived,
          compactReceived: f.compactFramesReceived,
          bytesReceived: f.bytesReceived,
          lost: f.lost,
          replayed: f.replayed,
          decryptFailed: f.decryptFailed,
          reconnects: f.reconnects,
          unsent: f.unsentDisconnected + f.unsentBackpressure,
          muted: channel.mutedFrames,
          layerSwitches: this.switches.get(channel.name) ?? [],
          senders: [...(this.senders.get(channel.name) ?? [])],
          ...(this.errors.has(channel.name) ? { error: this.errors.get(channel.name) } : {}),
        };
      })
      .concat(refused);
  }

  private waitForPeers(): Promise<void> {
    const timeoutMs = this.options.peerTimeoutMs ?? PEER_WAIT_TIMEOUT_MS;
    const lonely = () => this.call.channels.filter((c) => c.core.peers.size === 0);
    if (lonely().length === 0) return Promise.resolve();
    this.options.onProgress?.('waiting for another peer on every channel');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new CallError('no_peer', `no other peer joined within ${timeoutMs / 1000} s on ${lonely().map((c) => c.name).join(', ')}`));
      }, timeoutMs);
      const off = this.call.on('peers', () => {
        if (lonely().length) return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  }

  /** Frame after frame on the real-time clock, through each channel's gate (its script's key presses). */
  private async sendForDuration(): Promise<number> {
    const { source, channels, signal } = this.options;
    const pacer = new SendPacer(Math.round((this.options.seconds * 1000) / FRAME_MS));
    const scripted = channels.filter((c) => c.talk);
    for await (const { index, skipped } of dueFrames(pacer)) {
      if (signal?.aborted || this.call.isStopped) break;
      if (this.call.channels.length === 0) throw new CallError('connect_failed', `every channel ended: ${[...this.errors.values()].join('; ')}`);
      if (skipped > 0) this.call.skip(skipped);
      const at = index * FRAME_MS;
      for (const c of scripted) {
        if (!this.call.channels.some((ch) => ch.name === c.name)) continue;
        if (talkingAt(c.talk, at)) this.call.press(c.name, at);
        else this.call.release(c.name);
      }
      await this.call.send(source.frame(index), at, source.compactFrame?.(index));
    }
    return pacer.skipped;
  }

  /**
   * Frames still on their way are heard: it stays until the line has been quiet a moment, and (a
   * sender that started late, a stalled machine) until every channel with peers has heard something,
   * for at most LINGER_MAX_MS.
   */
  private async linger(): Promise<void> {
    const until = performance.now() + LINGER_MAX_MS;
    const unheard = () => this.call.channels.some((c) => c.core.peers.size > 0 && !this.senders.has(c.name));
    while (performance.now() < until && (performance.now() - this.lastReceivedAt < LINGER_QUIET_MS || unheard())) await sleep(50);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
