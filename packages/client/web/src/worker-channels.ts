/**
 * The call worker's other channels (issue 14): lines the page holds beside its own, each a call core
 * on the page's one websocket (channel-socket.ts), with its talk mode, push-to-talk key, volume and
 * mute (channel-call.ts). What they hear goes to the same sink as the page's own line (playback, and
 * the recording); what the microphone captures goes through each channel's gate.
 */
import { ChannelCall } from '../../src/channel-call.js';
import type { FrameSink } from '../../src/call-core.js';
import type { ChannelMux } from '../../src/channel-socket.js';
import type { CompactCodec } from '../../src/compact-codec.js';
import type { ChannelCommand, ChannelReport, ChannelStatus } from './channel-messages.js';

const REPORT_EVERY_MS = 250;
/**
 * The page's own line takes the lowest channel numbers (0, and while a membership moves it to a new
 * line, the next ones: ChannelMux.anyChannel), so it stays the lead, sent the full layer; the listed
 * channels take numbers from here on, clear of those.
 */
export const FIRST_LISTED_CHANNEL = 16;

export class WorkerChannels {
  private readonly call: ChannelCall;
  private readonly status = new Map<string, ChannelStatus>();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    mux: ChannelMux,
    sampleRate: number,
    codec: CompactCodec | undefined,
    sink: FrameSink,
    private readonly report: (r: ChannelReport) => void,
  ) {
    this.call = new ChannelCall({ sampleRate, socket: () => never(), codec, mux, firstChannel: FIRST_LISTED_CHANNEL });
    this.call.addSink(sink);
    const update = (name: string, change: Partial<ChannelStatus>) => {
      const s = this.status.get(name);
      if (!s) return;
      Object.assign(s, change);
      this.publish();
    };
    this.call.on('state', ({ channel, state, detail }) => update(channel, { state, detail }));
    this.call.on('peers', ({ channel, peers }) => update(channel, { peers }));
    this.call.on('receiving', ({ channel, layer }) => update(channel, { layer }));
    this.call.on('ended', ({ channel, error }) => update(channel, { state: error ? 'refused' : 'ended', detail: error?.message ?? 'Left.', error: error?.message }));
    this.timer = setInterval(() => this.publish(), REPORT_EVERY_MS);
  }

  command(msg: ChannelCommand): void {
    const { call } = this;
    if (msg.type === 'channel-add') {
      this.status.set(msg.name, { name: msg.name, state: 'connecting', detail: 'Connecting…', peers: [], transmitting: false });
      call.add({ name: msg.name, link: msg.link, mode: msg.mode, volume: msg.volume, muted: msg.muted }).catch(() => undefined);
      this.publish();
    } else if (msg.type === 'channel-remove') {
      call.remove(msg.name);
      this.status.delete(msg.name);
      this.publish();
    } else if (!call.channels.some((c) => c.name === msg.name)) return;
    else if (msg.type === 'channel-mode') call.setMode(msg.name, msg.mode);
    else if (msg.type === 'channel-talk') {
      if (msg.down) call.press(msg.name, msg.at);
      else call.release(msg.name);
    } else if (msg.type === 'channel-volume') {
      call.setVolume(msg.name, msg.volume);
      call.setMuted(msg.name, msg.muted);
    }
  }

  /** One captured frame at `now` (Date.now()): through each channel's gate. */
  capture(pcm: Int16Array, now: number): void {
    if (this.call.channels.length) void this.call.send(pcm, now);
  }

  private publish(): void {
    for (const channel of this.call.channels) {
      const s = this.status.get(channel.name);
      if (!s) continue;
      s.transmitting = channel.gate.open;
      s.pttStartMs = channel.gate.lastStartDelayMs;
    }
    this.report({ type: 'channels', channels: [...this.status.values()] });
  }

  stop(): void {
    clearInterval(this.timer);
    this.call.stop();
  }
}

/** The channels never open a socket of their own: they ride the page's. */
function never(): never {
  throw new Error('the page’s channels share its websocket');
}
