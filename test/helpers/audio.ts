/** Deterministic noise: a bit-exact comparison catches any change of any sample. */
export function noise(seed: number, samples: number): Int16Array {
  const out = new Int16Array(samples);
  let x = seed;
  for (let i = 0; i < samples; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = (x >>> 8) & 0xffff;
  }
  return out;
}

/**
 * The longest silence, in ms, from `since` on: the wait for the first frame heard after it, or
 * the largest gap between two frames heard after it. `arrivals` are performance.now() times.
 */
export function longestSilence(arrivals: number[], since: number): number {
  const after = arrivals.filter((t) => t > since);
  if (after.length === 0) return Infinity;
  let gap = after[0] - since;
  for (let i = 1; i < after.length; i++) gap = Math.max(gap, after[i] - after[i - 1]);
  return gap;
}
