import { COMPACT_SAMPLE_RATE, samplesPerFrame } from '@studioline/protocol';
import { Pcm } from './wav.js';
import { toneSample } from './signal.js';

/** Produces consecutive frames of PCM at one sample rate. */
export interface AudioSource {
  readonly sampleRate: number;
  /** Frame `index` (0-based): samplesPerFrame(sampleRate) samples. */
  frame(index: number): Int16Array;
  /**
   * The same 10 ms at 48 kHz, for the compact layer's encoder, when the source can make it directly
   * (a tone can): it spares a rate conversion per frame (libsamplerate: 1.5 ms of CPU from 200 kHz).
   */
  compactFrame?(index: number): Int16Array;
}

export function toneSource(frequency: number, sampleRate: number, amplitude = 0.5): AudioSource {
  const at = (rate: number, index: number) => {
    const n = samplesPerFrame(rate);
    const out = new Int16Array(n);
    for (let i = 0; i < n; i++) out[i] = toneSample(frequency, rate, index * n + i, amplitude);
    return out;
  };
  return { sampleRate, frame: (index) => at(sampleRate, index), compactFrame: (index) => at(COMPACT_SAMPLE_RATE, index) };
}

/** Plays a recording at its own rate, looping when asked for more than it holds. */
export function wavSource(pcm: Pcm): AudioSource {
  const n = samplesPerFrame(pcm.sampleRate);
  const total = pcm.samples.length;
  return {
    sampleRate: pcm.sampleRate,
    frame(index) {
      const out = new Int16Array(n);
      for (let i = 0; i < n; i++) out[i] = total ? pcm.samples[(index * n + i) % total] : 0;
      return out;
    },
  };
}
