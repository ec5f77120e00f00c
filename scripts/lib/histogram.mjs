/**
 * A quantile from the bucket deltas of a Prometheus histogram, as histogram_quantile does:
 * linear within the bucket that holds it. `buckets`: [[le, cumulative count], ...] in any order.
 * Returns null when nothing was observed.
 */
export function quantileFromBuckets(buckets, q) {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (!total) return null;
  let previous = [0, 0];
  for (const [le, count] of sorted) {
    if (count >= q * total) {
      if (le === Infinity) return previous[0];
      return previous[0] + ((le - previous[0]) * (q * total - previous[1])) / Math.max(1, count - previous[1]);
    }
    previous = [le, count];
  }
  return null;
}
