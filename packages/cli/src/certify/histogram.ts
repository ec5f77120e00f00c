/**
 * Latency histogram with logarithmic buckets (5 % wide, 10 µs to ~100 s): percentiles within 5 %,
 * a fixed size however many frames, and additive, so shards merge by adding counts.
 */
const GROWTH = 1.05;
const MIN_MS = 0.01;
const BUCKETS = Math.ceil(Math.log(1e7) / Math.log(GROWTH)) + 1;

/** Counts as sparse pairs [bucket, count] (JSON-friendly and small: most buckets stay empty). */
export type SparseCounts = [number, number][];

export class LatencyHistogram {
  readonly counts = new Float64Array(BUCKETS);
  total = 0;
  max = 0;

  add(ms: number): void {
    const i = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(ms / MIN_MS) / Math.log(GROWTH)) + 1);
    this.counts[i]++;
    this.total++;
    if (ms > this.max) this.max = ms;
  }

  /** The q-quantile in ms (the upper edge of its bucket); undefined when empty. */
  quantile(q: number): number | undefined {
    if (!this.total) return undefined;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(upperEdge(i), this.max);
    }
    return this.max;
  }

  toSparse(): SparseCounts {
    const out: SparseCounts = [];
    this.counts.forEach((n, i) => n && out.push([i, n]));
    return out;
  }

  addSparse(counts: SparseCounts, max: number): void {
    for (const [i, n] of counts) {
      if (!(Number.isInteger(i) && i >= 0 && i < BUCKETS)) throw new RangeError(`latency bucket ${i} out of range`);
      this.counts[i] += n;
      this.total += n;
    }
    if (max > this.max) this.max = max;
  }

  /** Points of the cumulative distribution: [upper edge in ms, share of frames at or below]. */
  cdf(): [number, number][] {
    const out: [number, number][] = [];
    let seen = 0;
    this.counts.forEach((n, i) => {
      if (!n) return;
      seen += n;
      out.push([Math.min(upperEdge(i), this.max), seen / this.total]);
    });
    return out;
  }
}

function upperEdge(i: number): number {
  return i === 0 ? MIN_MS : MIN_MS * GROWTH ** i;
}

/** The q-quantile of plain numbers (sorted copy); undefined when empty. */
export function quantileOf(values: number[], q: number): number | undefined {
  if (!values.length) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
