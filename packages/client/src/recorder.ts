/**
 * Records a call per sender: one track for each sender heard (at that sender's own rate, frames in
 * counter order, a missing frame as silence), and on request a mix of all tracks aligned by time.
 * It is a {@link FrameSink} of the call core; the page also adds its own microphone as a track.
 *
 * A sender is one session: a peer that reconnects comes back with a new sender id (RFC 9605 needs
 * it) and so starts a new track. Tracks are placed in time by counter from the sender's earliest
 * arrival: a frame's counter says when it was captured relative to the sender's other frames, and
 * the least-delayed arrival anchors that timeline to the receiver's clock. Senders' clocks may
 * drift (±100 ppm: 60 ms over 10 minutes); the mix does not correct that.
 *
 * A track keeps its sender's first rate. The gateway may switch a receiver between a sender's
 * layers (full rate and the 48 kHz compact layer) while its link is in trouble; the frames of the
 * other layer are converted to the track's rate as they come (the same maintained resampler), so
 * a step down leaves no hole in the recording.
 */
import { FRAME_MS } from '@studioline/protocol';
import { RECORDING_MAX_BYTES } from './call-constants.js';
import type { FrameSink, ReceivedFrame } from './call-core.js';
import { floatToPcm } from './compact-codec.js';
import { Resampler, resample } from './resampler.js';
import { Pcm } from './wav.js';

export interface RecordedTrack extends Pcm {
  /** The sender id as text, or {@link LOCAL_TRACK} for this peer's own capture. */
  sender: string;
  /** Where sample 0 belongs on the receiver's clock, in ms. */
  startMs: number;
  /** Frames heard, and frames missing between the first and the last (filled with silence). */
  frames: number;
  missing: number;
}

/** The name of the track of this peer's own audio (the page records its microphone too). */
export const LOCAL_TRACK = 'you';

interface Stream {
  sampleRate: number;
  frameLength: number;
  frames: Map<bigint, Int16Array>;
  first: bigint;
  last: bigint;
  /** min(arrival - counter * FRAME_MS): the time counter 0 would have arrived with no delay. */
  anchorMs: number;
}

export class CallRecorder implements FrameSink {
  private readonly streams = new Map<string, Stream>();
  /** Per sender, the converter of its frames of the other layer. */
  private readonly converters = new Map<string, Resampler>();
  /** Frames not kept because the recording reached its size limit. */
  overLimit = 0;
  private bytes = 0;

  /** @param maxBytes PCM kept at most, all tracks together (default {@link RECORDING_MAX_BYTES}). */
  constructor(readonly maxBytes = RECORDING_MAX_BYTES) {}

  push(frame: ReceivedFrame): void {
    this.add(frame.sender, frame.ctr, frame.sampleRate, frame.pcm, frame.at);
  }

  /** Adds one frame of a track: its counter, rate, PCM and arrival time (ms). */
  add(sender: string, ctr: bigint, sampleRate: number, pcm: Int16Array, at: number): void {
    if (this.bytes + pcm.byteLength > this.maxBytes) {
      this.overLimit++;
      return;
    }
    let s = this.streams.get(sender);
    if (!s) {
      s = { sampleRate, frameLength: pcm.length, frames: new Map(), first: ctr, last: ctr, anchorMs: Infinity };
      this.streams.set(sender, s);
    }
    if (sampleRate !== s.sampleRate) {
      pcm = this.convert(sender, pcm, sampleRate, s);
    }
    if (!s.frames.has(ctr)) this.bytes += pcm.byteLength;
    s.frames.set(ctr, pcm);
    if (ctr < s.first) s.first = ctr;
    if (ctr > s.last) s.last = ctr;
    s.anchorMs = Math.min(s.anchorMs, at - Number(ctr) * FRAME_MS);
  }

  /** Frames heard but not in any track (over the size limit). */
  get notRecorded(): number {
    return this.overLimit;
  }

  /**
   * One frame at `from` as a frame of `s`'s rate and length: the converter's output varies by a
   * sample or so per call, and it starts a few samples late; padded or trimmed at the front.
   */
  private convert(sender: string, pcm: Int16Array, from: number, s: Stream): Int16Array {
    let r = this.converters.get(sender);
    if (!r || r.from !== from) {
      r?.close();
      this.converters.set(sender, (r = new Resampler(from, s.sampleRate)));
    }
    const out = r.process(pcm);
    const frame = new Float32Array(s.frameLength);
    if (out.length >= s.frameLength) frame.set(out.subarray(out.length - s.frameLength));
    else frame.set(out, s.frameLength - out.length);
    return floatToPcm(frame);
  }

  /** A sender left: its converter, if any, is freed (its track stays). */
  forget(sender: string): void {
    this.converters.get(sender)?.close();
    this.converters.delete(sender);
  }

  /** Senders recorded so far (the local track included when there is one). */
  get senders(): string[] {
    return [...this.streams.keys()];
  }

  /** One track per sender, in the order they were first heard. */
  tracks(): RecordedTrack[] {
    return [...this.streams].map(([sender, s]) => {
      const count = Number(s.last - s.first + 1n);
      const samples = new Int16Array(count * s.frameLength);
      for (const [ctr, pcm] of s.frames) samples.set(pcm.subarray(0, s.frameLength), Number(ctr - s.first) * s.frameLength);
      return { sender, sampleRate: s.sampleRate, samples, startMs: s.anchorMs + Number(s.first) * FRAME_MS, frames: s.frames.size, missing: count - s.frames.size };
    });
  }

  /**
   * All tracks mixed into one, each converted to `sampleRate` (default: the highest track rate)
   * with the maintained resampler and placed by its start time; summed and clipped to 16 bits.
   * With a single track at that rate, the mix is that track sample for sample.
   */
  async mix(sampleRate?: number): Promise<Pcm> {
    const tracks = this.tracks();
    const rate = sampleRate ?? Math.max(48_000, ...tracks.map((t) => t.sampleRate));
    if (tracks.length === 0) return { sampleRate: rate, samples: new Int16Array(0) };
    const start = Math.min(...tracks.map((t) => t.startMs));
    const placed = await Promise.all(
      tracks.map(async (t) => ({
        offset: Math.round(((t.startMs - start) * rate) / 1000),
        // The resampler works on floats in [-1, 1]; a track already at the mix rate is kept exact.
        samples: t.sampleRate === rate ? Float32Array.from(t.samples) : scale(await resample(t.samples, t.sampleRate, rate), 32768),
      })),
    );
    const sum = new Float32Array(Math.max(...placed.map((p) => p.offset + p.samples.length)));
    for (const p of placed) for (let i = 0; i < p.samples.length; i++) sum[p.offset + i] += p.samples[i];
    const samples = new Int16Array(sum.length);
    for (let i = 0; i < sum.length; i++) samples[i] = Math.max(-32768, Math.min(32767, Math.round(sum[i])));
    return { sampleRate: rate, samples };
  }
}

function scale(samples: Float32Array, factor: number): Float32Array {
  for (let i = 0; i < samples.length; i++) samples[i] *= factor;
  return samples;
}
