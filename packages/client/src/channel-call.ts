/**
 * A call on several channels over one websocket (issue 14): one call core per channel, each on its
 * own line from its own link, all sharing one socket (channel-socket.ts). Each channel has its talk
 * mode (hot, push-to-talk, listen only: talk-gate.ts) and, for what is heard, a volume and a mute,
 * as does each peer within it. The page's call worker and the Node peer build on it.
 *
 * Channel numbers go to channels in the order they are added, the lowest free one first; the lowest
 * channel number on the socket is its lead, the one channel sent the full layer when it receives
 * several (channels.ts in protocol). Sending: each captured frame goes through every channel's gate,
 * and on to that channel's core (or the core is told of a pause), so each line keeps its own frame
 * clock and talk spurts. Hearing: every channel's frames pass through its mix (volume, mute, per
 * peer too) before the sinks: a muted channel or peer reaches no sink, a recorder included.
 */
import { CallLink, LayerChangeReason, LayerName } from '@studioline/protocol';
import { CallCore, CallCoreOptions, CallError, CallState, FrameSink, ReceivedFrame } from './call-core.js';
import { ChannelMux } from './channel-socket.js';
import { MAX_VOLUME, isVolume, withGain } from './mix-gain.js';
import { TalkGate, TalkMode } from './talk-gate.js';
import { TypedEvents } from './typed-events.js';

export interface ChannelSpec {
  /** A name a person reads (the page's list, the CLI's NAME=LINK). */
  name: string;
  link: CallLink;
  /** Default hot. */
  mode?: TalkMode;
  /** Gain of what is heard on it, 0 to 4 (default 1). */
  volume?: number;
  muted?: boolean;
}

export interface ChannelCallOptions extends Omit<CallCoreOptions, 'link' | 'url' | 'membership'> {
  /** The shared socket to put the channels on (default a new one over `socket`): the page's call worker shares its main line's. */
  mux?: ChannelMux;
  /** The lowest channel number to use (default 0); the page keeps 0 for its main line. */
  firstChannel?: number;
}

/** One received frame and the channel it came on. */
export interface ChannelFrame {
  channel: string;
  frame: ReceivedFrame;
}

export interface ChannelCallEvents {
  /** A channel's state (connecting, waiting, in-call, reconnecting, refused, ended) and its words. */
  state: { channel: string; state: CallState; detail: string };
  joined: { channel: string; peers: string[]; rejoined: boolean };
  peers: { channel: string; peers: string[] };
  /** A channel's call ended: left (no error) or refused (its seat taken back, the others go on). */
  ended: { channel: string; error?: CallError };
  /** The best layer a channel is sent now, and why it changed (absent: the channel's start); the lead channel alone gets the full layer. */
  receiving: { channel: string; layer: LayerName; reason?: LayerChangeReason };
  /** A frame heard, before the mix (what the channel sent; the sinks get it after the mix). */
  frame: ChannelFrame;
}

export class Channel {
  readonly gate: TalkGate;
  volume: number;
  muted: boolean;
  /** Per peer (sender id as text): a gain, and mute. */
  readonly peerVolume = new Map<string, number>();
  readonly peerMuted = new Set<string>();
  /** Frames not passed to the sinks because the channel or the peer was muted. */
  mutedFrames = 0;

  constructor(
    readonly name: string,
    /** Its number on the socket (channels.ts in protocol). */
    readonly number: number,
    readonly link: CallLink,
    readonly core: CallCore,
    sampleRate: number,
    spec: ChannelSpec,
  ) {
    this.gate = new TalkGate(spec.mode ?? 'hot', sampleRate);
    this.volume = checkVolume(spec.volume ?? 1);
    this.muted = spec.muted ?? false;
  }

  /** The gain a frame of `sender` is heard at: 0 when the channel or the peer is muted. */
  gainOf(sender: string): number {
    if (this.muted || this.peerMuted.has(sender)) return 0;
    return this.volume * (this.peerVolume.get(sender) ?? 1);
  }
}

export class ChannelCall extends TypedEvents<ChannelCallEvents> {
  private readonly mux: ChannelMux;
  private readonly byName = new Map<string, Channel>();
  private readonly sinks = new Set<FrameSink>();
  private url?: string;
  private stopped = false;

  constructor(private readonly options: ChannelCallOptions) {
    super();
    this.mux = options.mux ?? new ChannelMux(options.socket);
  }

  /** True once stop() was called. */
  get isStopped(): boolean {
    return this.stopped;
  }

  get channels(): Channel[] {
    return [...this.byName.values()].sort((a, b) => a.number - b.number);
  }

  channel(name: string): Channel {
    const channel = this.byName.get(name);
    if (!channel) throw new CallError('bad_request', `there is no channel called "${name}"`);
    return channel;
  }

  /**
   * Joins one more channel; resolves once it joined, rejects when it is refused (the other
   * channels go on). Every channel must be on the same server: they share its websocket.
   */
  add(spec: ChannelSpec): Promise<Channel> {
    if (this.stopped) return Promise.reject(new CallError('bad_request', 'the call has ended'));
    if (this.byName.has(spec.name)) return Promise.reject(new CallError('bad_request', `there is already a channel called "${spec.name}"`));
    const url = spec.link.websocketUrl;
    if (this.url !== undefined && this.byName.size && url !== this.url) {
      return Promise.reject(new CallError('bad_request', `channel "${spec.name}" is on another server (${url}) than the others (${this.url}): channels share one connection`));
    }
    this.url = url;
    const number = this.freeNumber();
    const { mux: _mux, firstChannel: _first, ...coreOptions } = this.options;
    const core = new CallCore({ ...coreOptions, link: spec.link, url, socket: this.mux.factoryFor(number) });
    const channel = new Channel(spec.name, number, spec.link, core, this.options.sampleRate, spec);
    this.byName.set(spec.name, channel);
    this.follow(channel);
    return core.start().then(
      () => channel,
      (err: CallError) => {
        this.forget(channel);
        throw err;
      },
    );
  }

  /** Leaves one channel; the others, and the socket, go on. */
  remove(name: string): void {
    const channel = this.byName.get(name);
    if (!channel) return;
    this.forget(channel);
    channel.core.stop();
  }

  /** Leaves every channel (the socket closes). */
  stop(): void {
    this.stopped = true;
    for (const channel of [...this.byName.values()]) this.remove(channel.name);
  }

  /** Received frames of every channel go to `sink` after the mix; returns a function that removes it. */
  addSink(sink: FrameSink): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  setMode(name: string, mode: TalkMode): void {
    this.channel(name).gate.setMode(mode);
  }

  /** The push-to-talk key of a channel went down at `at` (the clock send() is given). */
  press(name: string, at: number): void {
    this.channel(name).gate.press(at);
  }

  release(name: string): void {
    this.channel(name).gate.release();
  }

  setVolume(name: string, volume: number): void {
    this.channel(name).volume = checkVolume(volume);
  }

  setMuted(name: string, muted: boolean): void {
    this.channel(name).muted = muted;
  }

  /** A peer's gain within a channel (sender id as text), 0 to MAX_VOLUME. */
  setPeerVolume(name: string, sender: string, volume: number): void {
    this.channel(name).peerVolume.set(sender, checkVolume(volume));
  }

  setPeerMuted(name: string, sender: string, muted: boolean): void {
    const set = this.channel(name).peerMuted;
    if (muted) set.add(sender);
    else set.delete(sender);
  }

  /**
   * One captured frame at `now` (ms, the clock press() is given): through each channel's gate to
   * its line. `at48k`, the same audio at 48 kHz when the caller has it, serves the compact layer of
   * channels whose gate leaves the frame as it is.
   */
  async send(pcm: Int16Array, now: number, at48k?: Int16Array): Promise<void> {
    const sends: Promise<boolean>[] = [];
    for (const channel of this.byName.values()) {
      const frame = channel.gate.process(pcm, now);
      if (!frame) channel.core.pause();
      else sends.push(channel.core.send(frame, frame === pcm ? at48k : undefined));
    }
    await Promise.all(sends);
  }

  /** `count` captured frames were skipped (the sender fell behind real time): every line's frame clock moves past them. */
  skip(count: number): void {
    for (const channel of this.byName.values()) channel.core.skip(count);
  }

  private freeNumber(): number {
    const used = new Set([...this.byName.values()].map((c) => c.number));
    let n = this.options.firstChannel ?? 0;
    while (used.has(n)) n++;
    return n;
  }

  private forget(channel: Channel): void {
    if (this.byName.get(channel.name) === channel) this.byName.delete(channel.name);
  }

  private follow(channel: Channel): void {
    const { core, name } = channel;
    core.on('state', ({ state, detail }) => this.emit('state', { channel: name, state, detail }));
    core.on('joined', ({ peers, rejoined }) => this.emit('joined', { channel: name, peers, rejoined }));
    core.on('peers', (peers) => this.emit('peers', { channel: name, peers }));
    core.on('receiving', ({ layer, reason }) => this.emit('receiving', { channel: name, layer, reason }));
    core.on('ended', ({ error }) => {
      this.forget(channel);
      this.emit('ended', { channel: name, error });
    });
    core.addSink({
      push: (frame) => {
        this.emit('frame', { channel: name, frame });
        const gain = channel.gainOf(frame.sender);
        if (gain === 0) {
          channel.mutedFrames++;
          return;
        }
        const heard = gain === 1 ? frame : { ...frame, pcm: withGain(frame.pcm, gain) };
        for (const sink of this.sinks) sink.push(heard);
      },
      forget: (sender) => {
        for (const sink of this.sinks) sink.forget?.(sender);
      },
    });
  }
}

function checkVolume(volume: number): number {
  if (!isVolume(volume)) throw new CallError('bad_request', `a volume is from 0 to ${MAX_VOLUME}, not ${volume}`);
  return volume;
}
