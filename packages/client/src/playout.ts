/**
 * Playout for the Node peer: what a listener would hear, in real time. Each sender's frames go
 * into the same jitter buffer that the page's playback AudioWorklet runs, and a clock reads from
 * every buffer as a sound card would, so the peer can tell how deep its buffers sat, how often they
 * ran dry, and what they concealed or dropped as late: the page's figures, for a terminal.
 * A sender's buffer runs at the rate of its first frame; frames of its other layer (the gateway
 * switches a troubled receiver between layers) are converted to that rate, as the page converts
 * every frame to its output rate, and go on in the same buffer: one frame clock on every layer.
 */
import { FRAME_MS } from '@studioline/protocol';
import { FrameSink, ReceivedFrame } from './call-core.js';
import { JitterBuffer, JitterBufferStats } from './jitter-buffer.js';
import { Resampler, toFloat } from './resampler.js';

/** How often the playout clock reads; also the buffers' read quantum (a sound card's period). */
const PLAYOUT_TICK_MS = FRAME_MS;

export interface SenderPlayout extends JitterBufferStats {
  sender: string;
  /** Frames handed to this sender's buffer. */
  pushed: number;
}

export class Playout implements FrameSink {
  private readonly senders = new Map<string, { buffer: JitterBuffer; pushed: number; read: number; startedAt: number; converter?: Resampler }>();
  private readonly finished: SenderPlayout[] = [];
  private timer?: ReturnType<typeof setInterval>;

  constructor(private readonly now: () => number = () => performance.now()) {}

  push(frame: ReceivedFrame): void {
    let s = this.senders.get(frame.sender);
    if (!s) {
      const quantum = Math.round((frame.sampleRate * PLAYOUT_TICK_MS) / 1000);
      s = { buffer: new JitterBuffer({ sampleRate: frame.sampleRate, quantum }), pushed: 0, read: 0, startedAt: this.now() };
      this.senders.set(frame.sender, s);
      this.timer ??= setInterval(() => this.tick(), PLAYOUT_TICK_MS);
    }
    let samples: Float32Array;
    if (frame.sampleRate === s.buffer.sampleRate) samples = toFloat(frame.pcm);
    else {
      if (s.converter?.from !== frame.sampleRate) {
        s.converter?.close();
        s.converter = new Resampler(frame.sampleRate, s.buffer.sampleRate);
      }
      samples = s.converter.process(frame.pcm);
    }
    s.buffer.push(Number(frame.ctr), samples, frame.at, frame.level);
    s.pushed++;
  }

  forget(sender: string): void {
    const s = this.senders.get(sender);
    if (!s) return;
    s.converter?.close();
    this.finished.push(this.figures(sender, s));
    this.senders.delete(sender);
  }

  /** Reads what each buffer owes the clock since it started: whole quanta, as a sound card pulls them. */
  private tick(): void {
    const now = this.now();
    for (const s of this.senders.values()) {
      const quantum = Math.round((s.buffer.sampleRate * PLAYOUT_TICK_MS) / 1000);
      const due = Math.floor((now - s.startedAt) / PLAYOUT_TICK_MS);
      // A stalled event loop is not a sound card: skip what is long overdue rather than rush it.
      if (due - s.read > 10) s.read = due - 1;
      const out = new Float32Array(quantum);
      for (; s.read < due; s.read++) {
        out.fill(0);
        s.buffer.read(out, s.startedAt + s.read * PLAYOUT_TICK_MS);
      }
    }
  }

  private figures(sender: string, s: { buffer: JitterBuffer; pushed: number }): SenderPlayout {
    const stats = s.buffer.stats;
    return { sender, pushed: s.pushed, ...stats };
  }

  /** Stops the clock; the figures of every sender heard, those who left included. */
  stop(): SenderPlayout[] {
    clearInterval(this.timer);
    this.timer = undefined;
    return [...this.finished, ...[...this.senders].map(([sender, s]) => this.figures(sender, s))];
  }
}
