/**
 * Tones in a mix: where a recording holds several callers' tones at once (a group line), the
 * dominant frequency names only the loudest. This finds, near each expected frequency, the peak of
 * a Hann-windowed Goertzel sweep and the tone's amplitude there.
 */

export interface HeardTone {
  expected: number;
  /** Where the peak is, in Hz. */
  frequency: number;
  /** Its amplitude, in 16-bit sample units (a full-scale sine is 32767). */
  amplitude: number;
}

/** Averages blocks of `factor` samples: tones of a few kHz survive, the sweep gets `factor` times cheaper. */
function decimate(samples: Int16Array, factor: number): Float64Array {
  const out = new Float64Array(Math.floor(samples.length / factor));
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let j = 0; j < factor; j++) sum += samples[i * factor + j];
    out[i] = sum / factor;
  }
  return out;
}

/** Multiplies by a Hann window in place; returns the window's sum (for amplitude scaling). */
function hann(x: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) {
    const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (x.length - 1));
    x[i] *= w;
    sum += w;
  }
  return sum;
}

/** Goertzel: the amplitude of `frequency` in the windowed signal. */
function amplitudeAt(x: Float64Array, windowSum: number, rate: number, frequency: number): number {
  const coeff = 2 * Math.cos((2 * Math.PI * frequency) / rate);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < x.length; i++) {
    const s0 = x[i] + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  return (2 * Math.sqrt(Math.max(0, power))) / windowSum;
}

/**
 * For each expected frequency, the strongest frequency within ±3 % of it (swept in 0.02 % steps)
 * and its amplitude. Rates above 40 kHz are decimated to about 20 kHz first.
 */
export function tonesHeard(samples: Int16Array, sampleRate: number, expected: number[]): HeardTone[] {
  const factor = Math.max(1, Math.floor(sampleRate / 20_000));
  const x = decimate(samples, factor);
  const rate = sampleRate / factor;
  const windowSum = hann(x);
  return expected.map((f) => {
    let best = { expected: f, frequency: 0, amplitude: 0 };
    for (let p = f * 0.97; p <= f * 1.03; p += f * 0.0002) {
      const amplitude = amplitudeAt(x, windowSum, rate, p);
      if (amplitude > best.amplitude) best = { expected: f, frequency: p, amplitude };
    }
    return best;
  });
}
