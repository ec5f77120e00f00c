/**
 * The servers' own view of a run: each /metrics scraped before and after, and what changed
 * (frames and bytes through the gateways, drops by reason, budget exceedances, server-added
 * latency). Scrapes are kept raw in the certificate so shards merge: the earliest "before" and
 * the latest "after" of each URL span the whole distributed run.
 */
import { lookup } from 'node:dns/promises';
export interface Scrape {
  url: string;
  /** Epoch ms. */
  at: number;
  /** studioline_* samples, "name{labels}" -> value; absent when the URL could not be read. */
  samples?: Record<string, number>;
  error?: string;
}

export interface ServerView {
  scrapedFrom: string[];
  unreachable: string[];
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  dropsByReason: Record<string, number>;
  budgetExceededIn: number;
  budgetExceededOut: number;
  relayDropsByReason: Record<string, number>;
  serverAddedP50Ms: number | null;
  serverAddedP99Ms: number | null;
}

const SAMPLE = /^(studioline_[a-zA-Z0-9_]+)(\{[^}]*\})?\s+(\S+)/;

export function parseMetrics(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = SAMPLE.exec(line);
    // NaN (an empty gauge such as the event-loop lag before its first sample) says nothing and is not JSON.
    if (m && Number.isFinite(Number(m[3]))) out[m[1] + (m[2] ?? '')] = Number(m[3]);
  }
  return out;
}

/**
 * `dns+http://NAME:PORT/path` becomes one URL per address of NAME (a headless Service lists every
 * pod: scraping a load-balanced Service would compare one pod's "before" with another's "after").
 */
export async function expandMetricsUrls(urls: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const url of urls) {
    if (!url.startsWith('dns+')) {
      out.push(url);
      continue;
    }
    const u = new URL(url.slice(4));
    let addresses: { address: string; family: number }[] = [];
    try {
      addresses = await lookup(u.hostname, { all: true });
    } catch {
      out.push(u.toString());
      continue;
    }
    for (const a of addresses) {
      const each = new URL(u.toString());
      each.hostname = a.family === 6 ? `[${a.address}]` : a.address;
      out.push(each.toString());
    }
  }
  return out;
}

export async function scrape(url: string, timeoutMs = 5000): Promise<Scrape> {
  const at = Date.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return { url, at, error: `HTTP ${res.status}` };
    return { url, at, samples: parseMetrics(await res.text()) };
  } catch (err) {
    return { url, at, error: (err as Error).message };
  }
}

/** For each URL: the earliest readable "before" and the latest readable "after". */
export function spanScrapes(before: Scrape[], after: Scrape[]): { before: Scrape[]; after: Scrape[] } {
  const pick = (list: Scrape[], better: (a: Scrape, b: Scrape) => boolean) => {
    const byUrl = new Map<string, Scrape>();
    for (const s of list) {
      const cur = byUrl.get(s.url);
      if (!cur || (s.samples && !cur.samples) || (s.samples && cur.samples && better(s, cur))) byUrl.set(s.url, s);
    }
    return [...byUrl.values()];
  };
  return { before: pick(before, (a, b) => a.at < b.at), after: pick(after, (a, b) => a.at > b.at) };
}

function quantileFromBuckets(buckets: [number, number][], q: number): number | null {
  const sorted = buckets.sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (!total) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return prevLe;
      // Linear within the bucket, as Prometheus' histogram_quantile does.
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

export function serverView(before: Scrape[], after: Scrape[]): ServerView {
  const delta = new Map<string, number>();
  const scrapedFrom: string[] = [];
  const unreachable: string[] = [];
  for (const a of after) {
    const b = before.find((x) => x.url === a.url);
    if (!a.samples || !b?.samples) {
      unreachable.push(a.url);
      continue;
    }
    scrapedFrom.push(a.url);
    for (const [k, v] of Object.entries(a.samples)) delta.set(k, (delta.get(k) ?? 0) + v - (b.samples[k] ?? 0));
  }
  const sum = (prefix: string) => [...delta].filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);
  const byReason = (name: string) => {
    const out: Record<string, number> = {};
    for (const [k, v] of delta) {
      const m = k.startsWith(`${name}{`) ? /reason="([^"]+)"/.exec(k) : null;
      if (m && v > 0) out[m[1]] = (out[m[1]] ?? 0) + v;
    }
    return out;
  };
  const hop = new Map<number, number>();
  for (const [k, v] of delta) {
    const m = k.startsWith('studioline_relay_hop_latency_seconds_bucket{') ? /le="([^"]+)"/.exec(k) : null;
    if (m) hop.set(Number(m[1]), (hop.get(Number(m[1])) ?? 0) + v);
  }
  const ms = (x: number | null) => (x === null ? null : Math.round(x * 1e6) / 1e3);
  return {
    scrapedFrom,
    unreachable,
    framesIn: sum('studioline_gateway_frames_in_total'),
    framesOut: sum('studioline_gateway_frames_out_total'),
    bytesIn: sum('studioline_gateway_bytes_in_total'),
    bytesOut: sum('studioline_gateway_bytes_out_total'),
    dropsByReason: byReason('studioline_gateway_frame_drops_total'),
    budgetExceededIn: sum('studioline_gateway_budget_exceeded_total{direction="in"}'),
    budgetExceededOut: sum('studioline_gateway_budget_exceeded_total{direction="out"}'),
    relayDropsByReason: byReason('studioline_relay_frame_drops_total'),
    serverAddedP50Ms: ms(quantileFromBuckets([...hop], 0.5)),
    serverAddedP99Ms: ms(quantileFromBuckets([...hop], 0.99)),
  };
}
