import { samplesPerFrame } from '@studioline/protocol';
import { Pcm } from './wav.js';
import { toneSample } from './signal.js';

/** Produces consecutive frames of PCM at one sample rate. */
export interface AudioSource {
  readonly sampleRate: number;
  /** Frame `index` (0-based): samplesPerFrame(sampleRate) samples. */
  frame(index: number): Int16Array;
}

export function toneSource(frequency: number, sampleRate: number, amplitude = 0.5): AudioSource {
  const n = samplesPerFrame(sampleRate);
  return {
    sampleRate,
    frame(index) {
      const out = new Int16Array(n);
      for (let i = 0; i < n; i++) out[i] = toneSample(frequency, sampleRate, index * n + i, amplitude);
      return out;
    },
  };
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
