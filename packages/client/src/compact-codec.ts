/**
 * The compact layer's codec as the call core sees it: an Opus encoder and a decoder per sender,
 * each a stream with an output callback, so that an asynchronous codec (WebCodecs in the page) and
 * a synchronous one (libopus in WebAssembly, for the Node peer: opus-node.ts) fit alike. The
 * settings are one set for every platform (`compact-layer.ts` in the protocol package).
 *
 * {@link CompactPacketizer} turns a peer's captured frames, at whatever rate it captures, into the
 * 10 ms frames of 48 kHz the encoder takes: through the maintained resampler when the rates
 * differ, and cut into whole frames (the resampler's output per call varies by a sample or so).
 * It numbers the frames it makes from 0: one 48 kHz frame per captured frame on average, so frame
 * n carries the audio of captured frame n (less the converter's few samples of delay), and its
 * counter is the full layer's counter for that audio (the call core's frame clock).
 */
import { COMPACT_FRAME_SAMPLES, COMPACT_SAMPLE_RATE } from '@studioline/protocol';
import { Resampler, toFloat } from './resampler.js';

/** How a decoded frame was made: from its own packet, rebuilt from the next one's FEC, or concealed. */
export type CompactFrameSource = 'decoded' | 'fec' | 'plc';

export interface DecodedCompactFrame {
  /** The frame's SFrame counter on the sender's compact stream. */
  ctr: bigint;
  /** The counter of the packet whose arrival produced it (its own, or the next one for fec and plc). */
  packetCtr: bigint;
  /** 48 kHz mono. */
  pcm: Int16Array;
  source: CompactFrameSource;
}

export interface CompactEncoder {
  /**
   * Encodes frame `ctr` (its SFrame counter), {@link COMPACT_FRAME_SAMPLES} samples at 48 kHz,
   * floats in [-1, 1]; the packet comes through the callback with the same counter.
   */
  encode(pcm: Float32Array, ctr: bigint): void;
  close(): void;
}

export interface CompactDecoder {
  /**
   * Decodes the packet of frame `ctr` of one sender, in counter order. A decoder that can rebuilds
   * frames missing before it (FEC from this packet, concealment) and hands them out first.
   */
  decode(ctr: bigint, packet: Uint8Array): void;
  close(): void;
}

export interface CompactCodec {
  /** Which codec this is, for the figures (e.g. "WebCodecs", "libopus 1.6.1"). */
  readonly name: string;
  /** Loads what the codec needs; resolves before the first encoder or decoder is made. */
  prepare(): Promise<void>;
  encoder(onPacket: (packet: Uint8Array, ctr: bigint) => void, onError: (err: Error) => void): CompactEncoder;
  decoder(onFrame: (frame: DecodedCompactFrame) => void, onError: (err: Error) => void): CompactDecoder;
}

/**
 * Captured frames at the peer's rate in, 48 kHz frames of exactly {@link COMPACT_FRAME_SAMPLES}
 * out. A caller that has the audio at 48 kHz already (a tone source) hands that over instead, and
 * no converter is made.
 */
export class CompactPacketizer {
  private resampler?: Resampler;
  private readonly pending = new Float32Array(COMPACT_FRAME_SAMPLES);
  private filled = 0;
  private made = 0n;

  constructor(
    readonly fromRate: number,
    private readonly onFrame: (frame: Float32Array, ctr: bigint) => void,
  ) {}


  /** `count` captured frames were skipped: the frames made after them are numbered past them. */
  skip(count: number): void {
    this.made += BigInt(count);
  }

  /** One captured frame at `fromRate`, or (`at48k`) the same audio at 48 kHz. */
  push(pcm: Int16Array, at48k?: Int16Array): void {
    if (at48k || this.fromRate === COMPACT_SAMPLE_RATE) return this.add(toFloat(at48k ?? pcm));
    this.resampler ??= new Resampler(this.fromRate, COMPACT_SAMPLE_RATE);
    this.add(this.resampler.process(pcm));
  }

  private add(samples: Float32Array): void {
    let at = 0;
    while (at < samples.length) {
      const take = Math.min(samples.length - at, COMPACT_FRAME_SAMPLES - this.filled);
      this.pending.set(samples.subarray(at, at + take), this.filled);
      this.filled += take;
      at += take;
      if (this.filled === COMPACT_FRAME_SAMPLES) {
        this.filled = 0;
        // A copy: the encoder may keep it past this call (WebCodecs takes it asynchronously).
        this.onFrame(this.pending.slice(0, COMPACT_FRAME_SAMPLES), this.made++);
      }
    }
  }

  close(): void {
    this.resampler?.close();
  }
}

/** Floats in [-1, 1] to 16-bit PCM, clipped. */
export function floatToPcm(samples: Float32Array): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = Math.max(-32768, Math.min(32767, Math.round(samples[i] * 32768)));
  return out;
}
