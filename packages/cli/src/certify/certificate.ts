/**
 * The certificate: the raw, mergeable measurements of a run (or of several shards of one run),
 * the headline figures derived from them, and the verdict of each threshold. One function,
 * {@link finalize}, derives figures and verdict, so a single run and a merge of shards are judged
 * alike. The JSON Schema is loadtest/certificate.schema.json.
 */
import { COMPACT_BUDGET_BPS } from '@studioline/protocol';
import { LatencyHistogram, SparseCounts, quantileOf } from './histogram.js';
import { LayerBudget, budgetTolerance, layerBudgets, peerBudgetBps } from './layer-budget.js';
import { CertifierLoad, LossSeries, PeerResult } from './results.js';
import { Scrape, ServerView, serverView, spanScrapes } from './server-view.js';

export const CERTIFICATE_SCHEMA = 'studioline.certificate/v1';

export interface RunShape {
  target: string;
  startedAt: string;
  endedAt: string;
  peers: number;
  linesOf: number;
  durationSeconds: number;
  rampUpSeconds: number;
  holdSeconds: number;
  rampDownSeconds: number;
  shards: number;
  overBudgetBps: number;
  /** Mobile lines (a full-rate peer and a `mobile=1` one), in shard 0; absent in certificates from before layers. */
  mobileLines?: number;
}

export interface Limits {
  budgetBps: number;
  maxLoss: number;
  maxP99Ms: number;
  lateMs: number;
  maxJoinMs: number;
}

/** What a run measured; shards of one run add up. */
export interface Measurements {
  run: RunShape;
  limits: Limits;
  shardsIncluded: number[];
  peers: PeerResult[];
  latency: { counts: SparseCounts; max: number };
  loss: LossSeries;
  certifier: CertifierLoad[];
  machineCores: number[];
  scrapes: { before: Scrape[]; after: Scrape[] };
}

export interface Threshold {
  name: string;
  limit: string;
  measured: string;
  ok: boolean;
}

export interface Spread {
  min: number;
  median: number;
  max: number;
}

export interface Summary {
  peers: number;
  lines: number;
  joined: number;
  framesSent: number;
  framesExpected: number;
  framesReceived: number;
  deliveredShare: number;
  lost: number;
  late: number;
  reordered: number;
  decryptFailed: number;
  latencyMs: { p50: number | null; p95: number | null; p99: number | null; max: number | null };
  upBps: Spread;
  downBps: Spread;
  joinP95Ms: number | null;
  audioChecked: number;
  audioOk: number;
  certifierCores: number;
  /** The certifier's CPU for each frame it sealed and sent or received and opened (all peers): its cost, to size a certification. */
  certifierCpuUsPerFrame: number;
  certifierEventLoopP99Ms: number;
  unsent: number;
}

export interface OverBudgetView {
  floodBps: number;
  flooderSentBps: number;
  partnerReceivedBps: number;
  flooderHeardShare: number;
  serverBudgetExceededIn: number;
}

/** A mobile (compact-only) peer: what it downloaded against its layer's budget, and what it heard. */
export interface MobileView {
  id: string;
  downBps: number;
  upBps: number;
  /** Its budget: the compact layer's per speaker, times the speakers it hears. */
  budgetBps: number;
  /** Frames of its partner's compact layer it heard, of those sent; and full-rate frames it got (must be none). */
  heard: number;
  expected: number;
  fullRateReceived: number;
}

export interface Certificate extends Measurements {
  schema: typeof CERTIFICATE_SCHEMA;
  passed: boolean;
  /** Names of the thresholds that broke. */
  broken: string[];
  thresholds: Threshold[];
  summary: Summary;
  overBudget: OverBudgetView | null;
  /** Each layer's budget and the highest rate a peer on it reached (every peer also carries its own budgetBps). */
  budgets: LayerBudget[];
  mobile: MobileView[];
  server: ServerView;
}

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;
const mbps = (bps: number) => `${(bps / 1e6).toFixed(2)} Mbit/s`;
/** Mbit/s for full-rate figures, kbit/s below 1 Mbit/s (a compact stream is about 0.07 Mbit/s). */
const rateText = (bps: number) => (bps < 1e6 ? `${(bps / 1e3).toFixed(1)} kbit/s` : mbps(bps));
const spread = (xs: number[]): Spread => ({ min: Math.min(...xs, Infinity) === Infinity ? 0 : Math.min(...xs), median: quantileOf(xs, 0.5) ?? 0, max: xs.length ? Math.max(...xs) : 0 });
/** A throttled sender's partner must still get most of the budget: throttling is not a cut. */
const THROTTLED_FLOOR = 0.9;
const MAX_UNSENT_SHARE = 0.001;
/** A mobile receiver must hear its partner (a budget held by hearing nothing is no proof): this share of its frames at least. */
const MOBILE_HEARD_FLOOR = 0.99;

export function finalize(m: Measurements): Certificate {
  const normal = m.peers.filter((p) => p.role === 'normal');
  const flooder = m.peers.find((p) => p.role === 'flooder');
  const partner = m.peers.find((p) => p.role === 'partner');
  const total = (xs: PeerResult[], f: (p: PeerResult) => number) => xs.reduce((n, p) => n + f(p), 0);
  const hist = new LatencyHistogram();
  hist.addSparse(m.latency.counts, m.latency.max);
  const q = (p: number) => {
    const v = hist.quantile(p);
    return v === undefined ? null : round(v);
  };
  const expected = total(normal, (p) => p.expected);
  const received = total(normal, (p) => Math.min(p.received, p.expected));
  const joinTimes = m.peers.filter((p) => p.joinMs !== undefined).map((p) => p.joinMs as number);
  const audio = m.peers.filter((p) => p.audio);
  const sent = total(normal, (p) => p.sent);
  const unsent = total(normal, (p) => p.unsent);
  const wall = Math.max(...m.certifier.map((c) => c.wallSeconds), 0);
  const summary: Summary = {
    peers: normal.length,
    lines: new Set(normal.map((p) => `${p.line}`)).size,
    joined: normal.filter((p) => p.joined && (!p.error || p.overran)).length,
    framesSent: sent,
    framesExpected: expected,
    framesReceived: received,
    deliveredShare: expected ? round(received / expected, 6) : 0,
    lost: expected - received,
    late: total(normal, (p) => p.late),
    reordered: total(normal, (p) => p.reordered),
    decryptFailed: total(m.peers, (p) => p.decryptFailed),
    latencyMs: { p50: q(0.5), p95: q(0.95), p99: q(0.99), max: hist.total ? round(hist.max) : null },
    upBps: spread(normal.map((p) => p.upBps)),
    downBps: spread(normal.map((p) => p.downBps)),
    joinP95Ms: joinTimes.length ? round(quantileOf(joinTimes, 0.95) as number, 1) : null,
    audioChecked: audio.length,
    audioOk: audio.filter((p) => p.audio?.ok).length,
    certifierCores: wall ? round(m.certifier.reduce((n, c) => n + c.cpuSeconds, 0) / wall, 2) : 0,
    certifierCpuUsPerFrame: round((m.certifier.reduce((n, c) => n + c.cpuSeconds, 0) * 1e6) / Math.max(1, total(m.peers, (p) => p.sent + p.received)), 1),
    certifierEventLoopP99Ms: Math.max(0, ...m.certifier.map((c) => c.eventLoopP99Ms)),
    unsent,
  };
  const spanned = spanScrapes(m.scrapes.before, m.scrapes.after);
  const server = serverView(spanned.before, spanned.after);
  const overBudget: OverBudgetView | null =
    flooder && partner
      ? {
          floodBps: m.run.overBudgetBps,
          flooderSentBps: flooder.upBps,
          partnerReceivedBps: partner.downBps,
          flooderHeardShare: flooder.expected ? round(flooder.received / flooder.expected, 6) : 0,
          serverBudgetExceededIn: server.budgetExceededIn,
        }
      : null;

  const thresholds: Threshold[] = [];
  const check = (name: string, limit: string, measured: string, ok: boolean) => thresholds.push({ name, limit, measured, ok });
  check('shards', `all ${m.run.shards} reported`, `${m.shardsIncluded.length} reported (${m.shardsIncluded.join(', ')})`, m.shardsIncluded.length === m.run.shards);
  const refused = m.peers.filter((p) => !p.joined || (p.error && !p.overran));
  check('joined', 'every peer joins and stays', `${m.peers.length - refused.length} of ${m.peers.length}${refused.length ? `; ${refused[0].id}: ${refused[0].error ?? 'did not join'}` : ''}`, refused.length === 0 && m.peers.length > 0);
  const worst = [...normal].sort((a, b) => b.lost / (b.expected || 1) - a.lost / (a.expected || 1))[0];
  check('loss', `at most ${(m.limits.maxLoss * 100).toFixed(2)} % of frames lost`, `${expected ? (((expected - received) / expected) * 100).toFixed(3) : '-'} % (${expected - received} of ${expected})${worst?.lost ? `; worst ${worst.id}: ${worst.lost} lost` : ''}`, expected > 0 && expected - received <= m.limits.maxLoss * expected);
  check('latency', `mouth-to-ear p99 at most ${m.limits.maxP99Ms} ms`, `p50 ${summary.latencyMs.p50} ms, p95 ${summary.latencyMs.p95} ms, p99 ${summary.latencyMs.p99} ms`, summary.latencyMs.p99 !== null && summary.latencyMs.p99 <= m.limits.maxP99Ms);
  // Every peer but the over-budget sender (whose excess is the point) is held to its layer's budget.
  const within = m.peers.filter((p) => p.role !== 'flooder');
  const tolerance = budgetTolerance(m.run.durationSeconds);
  const budgets = layerBudgets(within, m.limits.budgetBps, tolerance);
  check(
    'budget',
    budgets.map((b) => (b.per === 'peer' ? `${b.layer}-layer peers at most ${rateText(b.budgetBps)} each way` : `${b.layer}-layer peers at most ${rateText(b.budgetBps)} per speaker heard`)).join('; ') || `every peer at most ${mbps(m.limits.budgetBps)} each way`,
    budgets.map((b) => `${b.layer}: highest ${rateText(b.highestBps)} (${b.highestPeer ?? '-'}) of ${rateText(b.highestPeerBudgetBps)}`).join('; ') || 'no peer',
    budgets.every((b) => b.ok),
  );
  const mobile: MobileView[] = m.peers
    .filter((p) => p.role === 'mobile')
    .map((p) => ({ id: p.id, downBps: p.downBps, upBps: p.upBps, budgetBps: peerBudgetBps(p, within, m.limits.budgetBps), heard: p.compactReceived ?? 0, expected: p.expected, fullRateReceived: p.received - (p.compactReceived ?? 0) }));
  if ((m.run.mobileLines ?? 0) > 0 && m.shardsIncluded.includes(0)) {
    const held = (v: MobileView) => v.downBps <= v.budgetBps * tolerance && v.fullRateReceived === 0 && v.expected > 0 && v.heard >= MOBILE_HEARD_FLOOR * v.expected;
    const shown = mobile.find((v) => !held(v)) ?? mobile[0];
    check(
      'mobile held to its layer',
      `a mobile=1 receiver hears its full-rate partner on the compact layer only, at most its budget (${rateText(COMPACT_BUDGET_BPS)} per speaker heard), and at least ${MOBILE_HEARD_FLOOR * 100} % of its frames`,
      shown ? `${shown.id}: ${rateText(shown.downBps)} down of ${rateText(shown.budgetBps)}, heard ${shown.heard} of ${shown.expected} compact frames, ${shown.fullRateReceived} full-rate${mobile.length > 1 ? ` (${mobile.filter(held).length} of ${mobile.length} mobile receivers held)` : ''}` : 'no mobile receiver reported',
      mobile.length === m.run.mobileLines && mobile.every(held),
    );
  }
  const bad = total(m.peers, (p) => p.decryptFailed + p.malformed + p.replayed);
  check('decryption', 'every frame decrypts, none replayed or malformed', `${summary.decryptFailed} failed, ${total(m.peers, (p) => p.replayed)} replayed, ${total(m.peers, (p) => p.malformed)} malformed`, bad === 0);
  const wrong = audio.filter((p) => !p.audio?.ok);
  check('audio', 'receivers hear the tone and level sent', `${summary.audioOk} of ${summary.audioChecked} checked receivers${wrong.length ? `; ${wrong[0].id} heard ${wrong[0].audio?.heardHz} Hz at ${wrong[0].audio?.heardDb} dBFS, expected ${wrong[0].audio?.expectedHz.join('/')} Hz at ${wrong[0].audio?.expectedDb}` : ''}`, wrong.length === 0);
  check('join time', `p95 at most ${m.limits.maxJoinMs} ms`, `p95 ${summary.joinP95Ms ?? '-'} ms`, summary.joinP95Ms !== null && summary.joinP95Ms <= m.limits.maxJoinMs);
  if (m.run.overBudgetBps > 0 && m.shardsIncluded.includes(0)) {
    const floor = THROTTLED_FLOOR * Math.min(m.limits.budgetBps, m.run.overBudgetBps);
    const got = overBudget?.partnerReceivedBps ?? 0;
    const serverSaw = server.scrapedFrom.length ? server.budgetExceededIn > 0 : true;
    check(
      'over-budget throttled',
      `a ${mbps(m.run.overBudgetBps)} sender reaches its partner at ${mbps(floor)} to ${mbps(m.limits.budgetBps)}${server.scrapedFrom.length ? ', counted by the gateway' : ''}`,
      `sent ${mbps(overBudget?.flooderSentBps ?? 0)}, partner received ${mbps(got)}${server.scrapedFrom.length ? `, gateway counted ${server.budgetExceededIn} frames over budget` : ' (no /metrics reachable)'}`,
      Boolean(overBudget) && got >= floor && got <= m.limits.budgetBps * tolerance && serverSaw,
    );
    check(
      'over-budget isolated',
      `the throttled sender still hears at least ${((1 - m.limits.maxLoss) * 100).toFixed(2)} % of its partner`,
      `${((overBudget?.flooderHeardShare ?? 0) * 100).toFixed(3)} %`,
      (overBudget?.flooderHeardShare ?? 0) >= 1 - m.limits.maxLoss,
    );
  }
  // The certifier's own event-loop delay lands in every latency it measures: beyond half the
  // latency limit the figures are the certifier's, not the deployment's.
  const lagLimit = m.limits.maxP99Ms / 2;
  check(
    'certifier kept up',
    `the certifier sends ${(100 - MAX_UNSENT_SHARE * 100).toFixed(1)} % of its frames on time, event-loop p99 at most ${lagLimit} ms`,
    `${unsent} of ${sent + unsent} not sent${m.peers.some((p) => p.overran) ? ` (${m.peers.filter((p) => p.overran).length} peers stopped past their line's end)` : ''}; event-loop p99 ${summary.certifierEventLoopP99Ms} ms; ${summary.certifierCores} cores (${summary.certifierCpuUsPerFrame} µs per frame) used by ${m.certifier.length} process${m.certifier.length === 1 ? '' : 'es'} on ${Math.max(0, ...m.machineCores)}-core machine${m.machineCores.length > 1 ? 's' : ''}`,
    sent + unsent === 0 || (unsent <= MAX_UNSENT_SHARE * (sent + unsent) && summary.certifierEventLoopP99Ms <= lagLimit),
  );
  const broken = thresholds.filter((t) => !t.ok).map((t) => t.name);
  const peers = m.peers.map((p) => ({ ...p, budgetBps: peerBudgetBps(p, p.role === 'flooder' ? m.peers : within, m.limits.budgetBps) }));
  return { schema: CERTIFICATE_SCHEMA, passed: broken.length === 0, broken, thresholds, summary, overBudget, budgets, mobile, server, ...m, peers };
}

/** Adds loss series second by second (aligned on their epoch seconds), dropping leading empty seconds. */
export function mergeLossSeries(series: LossSeries[]): LossSeries {
  const start = Math.min(...series.map((s) => s.startEpochSecond));
  const len = Math.max(0, ...series.map((s) => s.startEpochSecond - start + s.expected.length));
  const out: LossSeries = { startEpochSecond: start, expected: new Array(len).fill(0), received: new Array(len).fill(0) };
  for (const s of series) {
    const off = s.startEpochSecond - start;
    s.expected.forEach((n, i) => (out.expected[off + i] += n));
    s.received.forEach((n, i) => (out.received[off + i] += n));
  }
  while (out.expected.length && out.expected[0] === 0 && out.received[0] === 0) {
    out.expected.shift();
    out.received.shift();
    out.startEpochSecond++;
  }
  return out;
}

export class MergeError extends Error {
  readonly code = 'bad_certificate';
}

/** Joins shard certificates of one run into one certificate (judged anew over all shards). */
export function merge(certs: Measurements[]): Certificate {
  if (!certs.length) throw new MergeError('no certificates to merge');
  const first = certs[0];
  const seen = new Set<number>();
  for (const c of certs) {
    for (const key of ['target', 'linesOf', 'shards', 'durationSeconds'] as const) {
      if (c.run[key] !== first.run[key]) throw new MergeError(`the shards are of different runs: ${key} is ${String(first.run[key])} in one and ${String(c.run[key])} in another`);
    }
    for (const s of c.shardsIncluded) {
      if (seen.has(s)) throw new MergeError(`shard ${s} appears twice`);
      seen.add(s);
    }
  }
  const hist = new LatencyHistogram();
  for (const c of certs) hist.addSparse(c.latency.counts, c.latency.max);
  const loss = mergeLossSeries(certs.map((c) => c.loss));
  const iso = (xs: string[], pick: (a: number, b: number) => number) => new Date(xs.map((x) => Date.parse(x)).reduce((a, b) => pick(a, b))).toISOString();
  return finalize({
    run: { ...first.run, startedAt: iso(certs.map((c) => c.run.startedAt), Math.min), endedAt: iso(certs.map((c) => c.run.endedAt), Math.max) },
    limits: first.limits,
    shardsIncluded: [...seen].sort((a, b) => a - b),
    peers: certs.flatMap((c) => c.peers),
    latency: { counts: hist.toSparse(), max: hist.max },
    loss,
    certifier: certs.flatMap((c) => c.certifier),
    machineCores: certs.flatMap((c) => c.machineCores),
    scrapes: { before: certs.flatMap((c) => c.scrapes.before), after: certs.flatMap((c) => c.scrapes.after) },
  });
}

/** The measurements inside a certificate (what merge needs), checking the schema name. */
export function measurementsOf(doc: unknown, source: string): Measurements {
  const d = doc as Partial<Certificate>;
  if (!d || d.schema !== CERTIFICATE_SCHEMA) throw new MergeError(`${source} is not a ${CERTIFICATE_SCHEMA} certificate`);
  const { run, limits, shardsIncluded, peers, latency, loss, certifier, machineCores, scrapes } = d as Certificate;
  return { run, limits, shardsIncluded, peers, latency, loss, certifier, machineCores, scrapes };
}
