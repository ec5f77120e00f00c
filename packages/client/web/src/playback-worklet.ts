/**
 * Playback: one jitter buffer per sender (packages/client/src/jitter-buffer.ts: target from the
 * measured jitter, drained to it in quiet audio, concealment without clicks), mixed into the
 * output. Frames come straight from the call worker through the media port. The audio clock
 * (`currentTime`) is the buffers' clock, so sender/receiver drift is the drift between the
 * sender's capture and this context's output. Statistics go to the page four times a second on
 * the worklet's own port; with the click probe on (a test hook for the latency benchmark) it also
 * reports there when it plays each click.
 */
import { JitterBuffer } from '../../src/jitter-buffer.js';
import type { JitterStats } from './audio.js';
import { ClickProbe } from './click-probe.js';
import { HANDOFF_SMOOTHING } from './latency.js';
import type { PlaybackMessage, WorkletControl } from './media-messages.js';

const STATS_EVERY_S = 0.25;

interface Sender {
  buffer: JitterBuffer;
  probe?: ClickProbe;
  /** How long frames take from the call worker's postMessage to here (they wait for the audio thread), ms, smoothed. */
  handoffMs: number;
  /** When each frame not yet played arrived here (wall clock), by counter. */
  arrivals: Map<number, number>;
  /** How long the samples played waited from their frame's arrival to being rendered (wall clock), ms, smoothed over about a second. */
  playoutMs: number;
}

/** Arrival times kept per sender: frames older than this many counters behind the one playing are forgotten. */
const ARRIVALS_KEPT = 100;

class PlaybackProcessor extends AudioWorkletProcessor {
  private readonly senders = new Map<string, Sender>();
  private scratch = new Float32Array(128);
  private lastReport = 0;
  private probing = false;

  constructor() {
    super();
    this.port.onmessage = (e: MessageEvent<WorkletControl>) => {
      const msg = e.data;
      if (msg.type === 'media-port') msg.port.onmessage = (m: MessageEvent<PlaybackMessage>) => this.receive(m.data);
      else if (msg.type === 'probe') {
        this.probing = msg.on;
        for (const s of this.senders.values()) s.probe = msg.on ? new ClickProbe(sampleRate) : undefined;
      }
    };
  }

  private receive(msg: PlaybackMessage): void {
    if (msg.type === 'forget') return void this.senders.delete(msg.sender);
    let s = this.senders.get(msg.sender);
    if (!s) {
      s = { buffer: new JitterBuffer({ sampleRate }), probe: this.probing ? new ClickProbe(sampleRate) : undefined, handoffMs: Date.now() - msg.at, arrivals: new Map(), playoutMs: 0 };
      this.senders.set(msg.sender, s);
    }
    const now = Date.now();
    s.handoffMs += (now - msg.at - s.handoffMs) * HANDOFF_SMOOTHING;
    s.arrivals.set(msg.ctr, now);
    if (s.arrivals.size > 2 * ARRIVALS_KEPT) for (const ctr of s.arrivals.keys()) if (ctr < msg.ctr - ARRIVALS_KEPT) s.arrivals.delete(ctr);
    s.buffer.push(msg.ctr, msg.samples, currentTime * 1000, msg.level);
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const out = outputs[0][0];
    out.fill(0);
    const now = currentTime * 1000;
    const wall = Date.now();
    if (this.scratch.length !== out.length) this.scratch = new Float32Array(out.length);
    const playoutSmoothing = out.length / sampleRate;
    for (const [sender, s] of this.senders) {
      this.scratch.fill(0);
      s.buffer.read(this.scratch, now);
      // The wall-clock wait from arrival to this render call, for the quantum just read (the jitter
      // buffer's residence plus the wait for the device's callback, which the audio clock hides).
      const playing = s.buffer.playingCtr;
      const arrived = playing === undefined ? undefined : s.arrivals.get(playing);
      if (arrived !== undefined) s.playoutMs += (wall - arrived - s.playoutMs) * playoutSmoothing;
      for (let i = 0; i < out.length; i++) out[i] += this.scratch[i];
      const at = s.probe?.scan(this.scratch, wall);
      if (at !== undefined) this.port.postMessage({ type: 'click', sender, at });
    }
    for (let i = 0; i < out.length; i++) out[i] = Math.max(-1, Math.min(1, out[i]));
    if (currentTime - this.lastReport > STATS_EVERY_S) {
      this.lastReport = currentTime;
      const senders: JitterStats[] = [];
      for (const [sender, s] of this.senders) senders.push({ sender, handoffMs: s.handoffMs, playoutMs: s.playoutMs, ...s.buffer.stats });
      this.port.postMessage({ type: 'stats', senders });
    }
    return true;
  }
}
registerProcessor('studioline-playback', PlaybackProcessor);
