/**
 * The receiver's check of what it heard: the dominant frequency of its recording must be a tone
 * another member sent (within 1 Hz), and its level that member's (within 1 dB). Decryption already
 * proves that the bytes are the sender's; this proves that the right audio went in and came out.
 */
import { Pcm, dominantFrequency } from '@studioline/client';
import { AudioCheck } from './results.js';

const FREQUENCY_TOLERANCE_HZ = 1;
const LEVEL_TOLERANCE_DB = 1;

/** RMS level in dBFS of a sine of this amplitude (a share of full scale). */
export function toneLevelDb(amplitude: number): number {
  return 20 * Math.log10((amplitude * 32767) / Math.SQRT2 / 32768);
}

/** Level over the middle of the recording, skipping silent frames (lost frames are recorded as silence). */
function levelDb(pcm: Pcm): number {
  const frame = Math.max(1, Math.round(pcm.sampleRate / 100));
  const s = pcm.samples;
  // On frame boundaries: the recording holds whole frames, and a lost one is a whole frame of zeros.
  const from = Math.floor(s.length / 4 / frame) * frame;
  const to = Math.floor((3 * s.length) / 4);
  let sum = 0;
  let n = 0;
  for (let f = from; f + frame <= to; f += frame) {
    let e = 0;
    for (let i = f; i < f + frame; i++) e += s[i] * s[i];
    if (e === 0) continue;
    sum += e;
    n += frame;
  }
  return n ? 10 * Math.log10(sum / n / 32768 ** 2) : -Infinity;
}

/** 2^18 samples (1.3 s at 200 kHz) from the middle: 0.76 Hz bins, interpolated well under 1 Hz, and a fast FFT. */
const WINDOW = 1 << 18;

export function checkAudio(pcm: Pcm, senders: { toneHz: number; amplitude: number }[]): AudioCheck {
  const from = Math.max(0, Math.floor((pcm.samples.length - WINDOW) / 2));
  const heardHz = dominantFrequency(pcm.samples.subarray(from, from + WINDOW), pcm.sampleRate);
  const match = senders.find((s) => Math.abs(s.toneHz - heardHz) <= FREQUENCY_TOLERANCE_HZ);
  const expectedDb = toneLevelDb((match ?? senders[0]).amplitude);
  const heardDb = levelDb(pcm);
  const round = (x: number) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : -999);
  return {
    expectedHz: senders.map((s) => s.toneHz),
    heardHz: round(heardHz),
    expectedDb: round(expectedDb),
    heardDb: round(heardDb),
    ok: Boolean(match) && Math.abs(heardDb - expectedDb) <= LEVEL_TOLERANCE_DB,
  };
}
