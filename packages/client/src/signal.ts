/** Test signals and their analysis: tones to send, and the dominant frequency of what was heard. */

/** Sample `index` of a sine tone, as 16-bit PCM. Phase-continuous across frames by construction. */
export function toneSample(frequency: number, sampleRate: number, index: number, amplitude = 0.5): number {
  return Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * frequency * index) / sampleRate));
}

function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j], re[i]];
      [im[i], im[j]] = [im[j], im[i]];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const angle = (-2 * Math.PI) / len;
    const wr = Math.cos(angle);
    const wi = Math.sin(angle);
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k;
        const b = a + len / 2;
        const tr = re[b] * cr - im[b] * ci;
        const ti = re[b] * ci + im[b] * cr;
        re[b] = re[a] - tr;
        im[b] = im[a] - ti;
        re[a] += tr;
        im[a] += ti;
        const ncr = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = ncr;
      }
    }
  }
}

/**
 * The Hann-windowed FFT of the largest power-of-two window (up to 2^20 samples) taken from the
 * middle of a recording, or undefined for too little audio (under 1024 samples).
 */
function middleSpectrum(samples: Int16Array): { re: Float64Array; im: Float64Array; n: number } | undefined {
  let n = 1;
  while (n * 2 <= samples.length && n < 1 << 20) n *= 2;
  if (n < 1024) return undefined;
  const start = Math.floor((samples.length - n) / 2);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let i = 0; i < n; i++) re[i] = samples[start + i] * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1)));
  fft(re, im);
  return { re, im, n };
}

/**
 * The dominant frequency of a recording, in Hz: the peak of the middle spectrum, refined by
 * parabolic interpolation of the log magnitudes (well under 1 Hz for a clean tone of a second or
 * more). Returns 0 for silence or too little audio.
 */
export function dominantFrequency(samples: Int16Array, sampleRate: number): number {
  const spectrum = middleSpectrum(samples);
  if (!spectrum) return 0;
  const { re, im, n } = spectrum;
  let peak = 1;
  let best = 0;
  const mag = (k: number) => Math.hypot(re[k], im[k]);
  for (let k = 1; k < n / 2 - 1; k++) {
    const m = mag(k);
    if (m > best) {
      best = m;
      peak = k;
    }
  }
  if (best === 0) return 0;
  const [a, b, c] = [Math.log(mag(peak - 1) + 1e-12), Math.log(best), Math.log(mag(peak + 1) + 1e-12)];
  const shift = (0.5 * (a - c)) / (a - 2 * b + c || 1);
  return ((peak + shift) * sampleRate) / n;
}

/**
 * The share (0 to 1) of a recording's power that lies within `halfWidthHz` of `frequency`, from
 * the middle spectrum: 1 for a clean tone at that frequency, about 0 for a tone elsewhere, and
 * each tone's part of a mix of tones. Returns 0 for silence or too little audio.
 */
export function toneShare(samples: Int16Array, sampleRate: number, frequency: number, halfWidthHz = 10): number {
  const spectrum = middleSpectrum(samples);
  if (!spectrum) return 0;
  const { re, im, n } = spectrum;
  const binHz = sampleRate / n;
  let total = 0;
  let band = 0;
  for (let k = 1; k < n / 2; k++) {
    const p = re[k] * re[k] + im[k] * im[k];
    total += p;
    if (Math.abs(k * binHz - frequency) <= halfWidthHz) band += p;
  }
  return total > 0 ? band / total : 0;
}
