import { AudioSource, toneSample } from '@studioline/client';
import { COMPACT_SAMPLE_RATE, STUDIO_SAMPLE_RATE, samplesPerFrame } from '@studioline/protocol';

/**
 * A full-rate tone whose frequency is a whole multiple of 100 Hz: each 10 ms frame then holds
 * whole cycles, so every frame is the same and is computed once. Sine samples for 200 peers at
 * 200 kHz would otherwise cost the certifier 40 million Math.sin calls a second.
 */
export function periodicTone(frequency: number, amplitude: number, sampleRate = STUDIO_SAMPLE_RATE): AudioSource {
  const frame = oneFrame(frequency, amplitude, sampleRate);
  // The same tone at 48 kHz for a peer that sends the compact layer too: no rate conversion per frame.
  const compact = sampleRate === COMPACT_SAMPLE_RATE ? frame : oneFrame(frequency, amplitude, COMPACT_SAMPLE_RATE);
  return { sampleRate, frame: () => frame, compactFrame: () => compact };
}

function oneFrame(frequency: number, amplitude: number, sampleRate: number): Int16Array {
  const n = samplesPerFrame(sampleRate);
  if (!Number.isInteger((frequency * n) / sampleRate)) throw new RangeError(`${frequency} Hz does not fit whole cycles in a frame`);
  const frame = new Int16Array(n);
  for (let i = 0; i < n; i++) frame[i] = toneSample(frequency, sampleRate, i, amplitude);
  return frame;
}
