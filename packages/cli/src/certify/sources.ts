import { AudioSource, toneSample } from '@studioline/client';
import { STUDIO_SAMPLE_RATE, samplesPerFrame } from '@studioline/protocol';

/**
 * A full-rate tone whose frequency is a whole multiple of 100 Hz: each 10 ms frame then holds
 * whole cycles, so every frame is the same and is computed once. Sine samples for 200 peers at
 * 200 kHz would otherwise cost the certifier 40 million Math.sin calls a second.
 */
export function periodicTone(frequency: number, amplitude: number, sampleRate = STUDIO_SAMPLE_RATE): AudioSource {
  const n = samplesPerFrame(sampleRate);
  if (!Number.isInteger((frequency * n) / sampleRate)) throw new RangeError(`${frequency} Hz does not fit whole cycles in a frame`);
  const frame = new Int16Array(n);
  for (let i = 0; i < n; i++) frame[i] = toneSample(frequency, sampleRate, i, amplitude);
  return { sampleRate, frame: () => frame };
}
