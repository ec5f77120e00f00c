/**
 * Samples waiting to be cut into fixed-size pieces: resamplers return what is ready (not a whole
 * frame), and a phone's packet (20 ms) is not the line's frame (10 ms). Bounded: past `max`
 * samples the oldest are dropped (a stalled consumer must not grow memory or delay).
 */
export class SampleFifo {
  private buf: Float32Array;
  private length = 0;
  /** Samples dropped because the FIFO was full. */
  overflowed = 0;

  constructor(private readonly max: number) {
    this.buf = new Float32Array(max);
  }

  get size(): number {
    return this.length;
  }

  push(samples: Float32Array): void {
    let input = samples;
    if (input.length > this.max) {
      this.overflowed += input.length - this.max;
      input = input.subarray(input.length - this.max);
    }
    const excess = this.length + input.length - this.max;
    if (excess > 0) {
      this.buf.copyWithin(0, excess, this.length);
      this.length -= excess;
      this.overflowed += excess;
    }
    this.buf.set(input, this.length);
    this.length += input.length;
  }

  /** The oldest `n` samples, or undefined while fewer are held. */
  take(n: number): Float32Array | undefined {
    if (this.length < n) return undefined;
    const out = this.buf.slice(0, n);
    this.buf.copyWithin(0, n, this.length);
    this.length -= n;
    return out;
  }

  /** The oldest `n` samples, padded with silence at the end when fewer are held. */
  takePadded(n: number): Float32Array {
    const out = new Float32Array(n);
    const k = Math.min(n, this.length);
    out.set(this.buf.subarray(0, k));
    this.buf.copyWithin(0, k, this.length);
    this.length -= k;
    return out;
  }
}

/** Floats in [-1, 1] to 16-bit PCM, clipped. */
export function toPcm16(samples: Float32Array): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = Math.max(-32768, Math.min(32767, Math.round(samples[i] * 32768)));
  return out;
}
