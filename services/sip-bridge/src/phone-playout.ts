/**
 * What the phone hears: every sender on the line through its own jitter buffer (the call core's,
 * the one the page plays through), read on the phone's packet clock and mixed. On a 1:1 line that
 * is the other peer; on a group line, the speakers the relay forwards (the loudest).
 */
import { COMPACT_SAMPLE_RATE } from '@studioline/protocol';
import { FrameSink, JitterBuffer, JitterBufferStats, ReceivedFrame } from '@studioline/client';

export class PhonePlayout implements FrameSink {
  private readonly buffers = new Map<string, JitterBuffer>();
  /** The figures of senders who left, for the call's closing log line. */
  private readonly left: JitterBufferStats[] = [];
  private readonly scratch: Float32Array;

  /** `quantum`: samples at 48 kHz read at a time (one phone packet). */
  constructor(private readonly quantum: number) {
    this.scratch = new Float32Array(quantum);
  }

  push(frame: ReceivedFrame): void {
    // The bridge receives only the compact layer: 48 kHz whatever the sender captured.
    if (frame.sampleRate !== COMPACT_SAMPLE_RATE) return;
    let buffer = this.buffers.get(frame.sender);
    if (!buffer) this.buffers.set(frame.sender, (buffer = new JitterBuffer({ sampleRate: COMPACT_SAMPLE_RATE, quantum: this.quantum })));
    const samples = new Float32Array(frame.pcm.length);
    for (let i = 0; i < samples.length; i++) samples[i] = frame.pcm[i] / 32768;
    buffer.push(Number(frame.ctr), samples, frame.at, frame.level);
  }

  forget(sender: string): void {
    const buffer = this.buffers.get(sender);
    if (buffer) this.left.push(buffer.stats);
    this.buffers.delete(sender);
  }

  /** Mixes one packet's worth of every sender into `out` (zeroed first). */
  read(out: Float32Array, now: number): void {
    out.fill(0);
    for (const buffer of this.buffers.values()) {
      this.scratch.fill(0);
      buffer.read(this.scratch, now);
      for (let i = 0; i < out.length; i++) out[i] += this.scratch[i];
    }
  }

  /** Each sender's jitter buffer (those who left too), for the call's closing log line. */
  stats(): JitterBufferStats[] {
    return [...this.left, ...[...this.buffers.values()].map((b) => b.stats)];
  }
}
