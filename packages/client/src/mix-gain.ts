/**
 * The gain of what is heard on a channel or of one peer (channel-call.ts): its range, and applying
 * it. Apart from the call so the page's main thread can read the range without loading the call.
 */

/** The highest gain a volume may set (+12 dB). */
export const MAX_VOLUME = 4;

/** True for a volume a channel or a peer may be set to: 0 (silent) to {@link MAX_VOLUME}. */
export function isVolume(volume: number): boolean {
  return volume >= 0 && volume <= MAX_VOLUME;
}

/** `pcm` at `gain`, clipped to 16 bits (a new array). */
export function withGain(pcm: Int16Array, gain: number): Int16Array {
  const out = new Int16Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = Math.max(-32768, Math.min(32767, Math.round(pcm[i] * gain)));
  return out;
}
