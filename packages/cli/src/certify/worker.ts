/**
 * A certifier worker process: drives its share of the lines with the project's own Node peer
 * (real-rate PCM, SFrame with a fresh leaf key per line, every frame decrypted and accounted),
 * reports progress each second and its results at the end. Started by run.ts with fork().
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { AudioSource, NodePeer, PeerSummary, nodeOpusCodec } from '@studioline/client';
import { COMPACT_SAMPLE_RATE, CallLink, FRAME_MS, formatCallLink, generateLeaf, parseCallLink } from '@studioline/protocol';
import { useNodeCrypto } from '@studioline/protocol/node';
import { checkAudio } from './audio-check.js';
import { flood } from './flooder.js';
import { LinePlan, PeerPlan, WorkerPlan, linkOrigin } from './plan.js';
import { PeerResult, WorkerMessage, WorkerResult } from './results.js';
import { periodicTone } from './sources.js';
import { PeerTrack, Tracker } from './tracker.js';

const PEER_TIMEOUT_MS = 30_000;
/**
 * A peer that falls behind real time skips the frames more than SEND_MAX_LATE_MS late (counted as
 * unsent, the certifier's shortfall); should one still run past its line's planned end plus this
 * grace (a send that never returns), it is stopped, so the certifier ends on time and says so.
 */
const OVERRUN_GRACE_MS = 2000;
const LOOP_RESOLUTION_MS = 10;

/** A sealed full-rate frame on the wire (level, SFrame header, 4,006 bytes of audio, tag), for peers stopped before their summary. */
const FULL_RATE_WIRE_BYTES = 4032;

/** Thrown by a peer's audio source past its hard deadline: the last guard that stops a peer stuck behind real time. */
class OverrunError extends Error {
  constructor() {
    super(`overran its line by more than ${OVERRUN_GRACE_MS / 1000} s: the certifier could not keep up with real time`);
  }
}

/** The deadline runs from the first frame asked for: joining and waiting for the partner come before, and may be slow. */
function withDeadline(source: AudioSource, sendMs: number): AudioSource {
  let deadline = Infinity;
  return {
    sampleRate: source.sampleRate,
    frame(index) {
      const now = performance.now();
      if (deadline === Infinity) deadline = now + sendMs + OVERRUN_GRACE_MS;
      else if (now > deadline) throw new OverrunError();
      return source.frame(index);
    },
  };
}

interface Running {
  plan: PeerPlan;
  track: PeerTrack;
  joinMs?: number;
}

function rate(bytes: number, first: number, last: number): number {
  // N frames span N-1 periods: add one period so a steady stream measures its true rate.
  return first && last >= first ? Math.round((bytes * 8) / ((last - first) / 1000 + 0.01)) : 0;
}

function result(plan: WorkerPlan, line: LinePlan, r: Running, s: Partial<PeerSummary> & { warnings?: Record<string, number> }, expected: number, error?: string): PeerResult {
  // Without the peer's summary (it was stopped, or refused), its figures come from the worker's own tracking.
  const received = s.received ?? r.track.receivedFrames;
  const sent = s.sent ?? r.track.sentFrames;
  // A normal peer owes one frame per 10 ms of its line; whatever it did not send is the certifier's shortfall.
  const planned = r.plan.role === 'flooder' || r.joinMs === undefined ? 0 : Math.floor(line.sendMs / FRAME_MS);
  const unsent = Math.max(s.unsent ?? 0, planned - sent);
  const q = (p: number) => Math.round((r.track.latency.quantile(p) ?? 0) * 1000) / 1000;
  return {
    id: r.plan.id,
    role: r.plan.role,
    layer: r.plan.layer,
    shard: plan.shard,
    line: line.index,
    joined: r.joinMs !== undefined,
    ...(error ? { error } : {}),
    ...(error?.startsWith('overran') ? { overran: true } : {}),
    ...(r.joinMs !== undefined ? { joinMs: Math.round(r.joinMs * 10) / 10 } : {}),
    sent,
    expected,
    received,
    ...(s.compactReceived !== undefined ? { compactReceived: s.compactReceived } : {}),
    lost: Math.max(0, expected - received),
    late: r.track.late,
    reordered: r.track.reordered,
    decryptFailed: s.decryptFailed ?? 0,
    replayed: s.replayed ?? 0,
    malformed: s.malformed ?? 0,
    reconnects: s.reconnects ?? 0,
    unsent,
    upBps: rate(s.bytesSent ?? sent * FULL_RATE_WIRE_BYTES, r.track.firstTx, r.track.lastTx),
    downBps: rate(s.bytesReceived ?? received * FULL_RATE_WIRE_BYTES, r.track.firstRx, r.track.lastRx),
    latencyMs: r.track.latency.total ? { p50: q(0.5), p95: q(0.95), p99: q(0.99), max: Math.round(r.track.latency.max * 1000) / 1000 } : null,
    warnings: (s.warnings ?? {}) as Record<string, number>,
  };
}

class Worker {
  private readonly tracker: Tracker;
  private active = 0;
  private readonly results: PeerResult[] = [];
  private readonly checks: (() => Promise<void>)[] = [];

  constructor(private readonly plan: WorkerPlan) {
    this.tracker = new Tracker(plan.lateMs);
  }

  private link(leaf = generateLeaf(), mobile = false): CallLink {
    return parseCallLink(formatCallLink(linkOrigin(this.plan.url), this.plan.key, leaf, mobile));
  }

  /**
   * `compact`: send the compact layer beside the full one. `timed` (default true): time what it
   * hears against its senders' send times; a mobile receiver is not timed, since it hears a full-rate
   * sender's compact stream, whose counters are not those of the full frames the sender reports.
   */
  private peer(link: CallLink, r: Running, sendMs: number, counted: boolean, receivers: number, { compact = false, timed = true } = {}): NodePeer {
    const t0 = performance.now();
    return new NodePeer({
      link,
      compact,
      // A mobile peer captures at the compact layer's rate: no rate conversion before its encoder.
      source: withDeadline(periodicTone(r.plan.toneHz, r.plan.amplitude, link.mobile ? COMPACT_SAMPLE_RATE : undefined), sendMs),
      seconds: sendMs / 1000,
      record: r.plan.record,
      deferMix: true,
      peerTimeoutMs: PEER_TIMEOUT_MS,
      ca: this.plan.ca,
      onSent: (sender, ctr, at) => this.tracker.onSent(r.track, counted, receivers, sender, ctr, at),
      onAudio: timed ? (sender, ctr, at) => this.tracker.onReceived(r.track, sender, ctr, at) : (sender, ctr, at) => r.track.noteReceived(sender, ctr, at),
      onServerMessage: (m) => {
        if (m.type === 'joined' && r.joinMs === undefined) r.joinMs = performance.now() - t0;
      },
    });
  }

  private async runLine(line: LinePlan): Promise<void> {
    await sleep(this.plan.startEpochMs + line.startMs - Date.now());
    const link = this.link();
    const running: Running[] = line.peers.map((plan) => ({ plan, track: new PeerTrack(plan.id) }));
    this.active += running.length;
    try {
      if (line.floodBps) return await this.runOverBudget(line, link, running);
      if (line.mobile) return await this.runMobile(line, running);
      const settled = await Promise.allSettled(running.map((r) => this.peer(link, r, line.sendMs, true, running.length - 1).run()));
      const sent = settled.map((s, i) => (s.status === 'fulfilled' ? s.value.sent : running[i].track.sentFrames));
      settled.forEach((s, i) => {
        const r = running[i];
        const expected = sent.reduce((n, x, j) => (j === i ? n : n + x), 0);
        if (s.status === 'rejected') return void this.results.push(result(this.plan, line, r, {}, expected, (s.reason as Error).message));
        const out = result(this.plan, line, r, s.value, expected);
        // Checked once every line of this worker is done: an FFT now would stall the lines still sending.
        // The mix too: made now, it would block the loop while other lines send.
        const mix = s.value.mix;
        if (mix) this.checks.push(async () => void (out.audio = checkAudio(await mix(), running.filter((_, j) => j !== i).map((o) => o.plan))));
        this.results.push(out);
      });
    } finally {
      this.active -= running.length;
    }
  }

  private async runOverBudget(line: LinePlan, link: CallLink, [flooder, partner]: Running[]): Promise<void> {
    const [f, p] = await Promise.allSettled([
      flood({
        link,
        source: periodicTone(flooder.plan.toneHz, flooder.plan.amplitude),
        bps: line.floodBps as number,
        sendMs: line.sendMs,
        ca: this.plan.ca,
        onSent: (sender, ctr, at) => this.tracker.onSent(flooder.track, false, 1, sender, ctr, at),
        onAudio: (sender, ctr, at) => this.tracker.onReceived(flooder.track, sender, ctr, at),
        onJoined: () => (flooder.joinMs = 0),
      }),
      this.peer(link, partner, line.sendMs, false, 1).run(),
    ]);
    const fSent = f.status === 'fulfilled' ? f.value.sent : flooder.track.sentFrames;
    const pSent = p.status === 'fulfilled' ? p.value.sent : partner.track.sentFrames;
    this.results.push(f.status === 'fulfilled' ? result(this.plan, line, flooder, f.value, pSent) : result(this.plan, line, flooder, {}, pSent, (f.reason as Error).message));
    this.results.push(p.status === 'fulfilled' ? result(this.plan, line, partner, p.value, fSent) : result(this.plan, line, partner, {}, fSent, (p.reason as Error).message));
  }

  /**
   * A mobile line: a full-rate peer that sends the compact layer beside the full one (as the page
   * and `studioline peer` do) calls a `mobile=1` peer, which sends and hears only the compact
   * layer. Each expects the other's frames of the layer it hears: the full-rate peer the mobile
   * one's compact frames; the mobile one the full-rate one's compact frames (its full frames are
   * not for it). Not in the measured lines' loss and latency: the certificate judges this line by
   * the mobile receiver's layer budget and by how much of its partner it heard.
   */
  private async runMobile(line: LinePlan, [full, mobile]: Running[]): Promise<void> {
    const leaf = generateLeaf();
    const [f, m] = await Promise.allSettled([this.peer(this.link(leaf), full, line.sendMs, false, 1, { compact: true }).run(), this.peer(this.link(leaf, true), mobile, line.sendMs, false, 1, { timed: false }).run()]);
    const fSent = f.status === 'fulfilled' ? f.value.compactSent : 0;
    const mSent = m.status === 'fulfilled' ? m.value.sent : mobile.track.sentFrames;
    this.results.push(f.status === 'fulfilled' ? result(this.plan, line, full, f.value, mSent) : result(this.plan, line, full, {}, mSent, (f.reason as Error).message));
    this.results.push(m.status === 'fulfilled' ? result(this.plan, line, mobile, m.value, fSent) : result(this.plan, line, mobile, {}, fSent, (m.reason as Error).message));
  }

  async run(): Promise<WorkerResult> {
    const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    let maxRss = 0;
    const ticker = setInterval(() => {
      maxRss = Math.max(maxRss, process.memoryUsage.rss());
      const c = process.cpuUsage(cpu0);
      send({ type: 'progress', progress: { worker: this.plan.worker, activePeers: this.active, sent: this.tracker.sent, received: this.tracker.heard, cpuSeconds: (c.user + c.system) / 1e6 } });
    }, 1000);
    // Measure the event loop only once peers run: the wait before the first line says nothing.
    const firstStart = Math.min(...this.plan.lines.map((l) => l.startMs), Infinity);
    const enableLoop = setTimeout(() => loop.enable(), Math.max(0, this.plan.startEpochMs + (Number.isFinite(firstStart) ? firstStart : 0) - Date.now()));
    // A mobile line's peers encode and decode Opus (WebAssembly): compiled now, before any line
    // sends, not in the middle of the hold where it would stall every line of this worker.
    if (this.plan.lines.some((l) => l.mobile)) await nodeOpusCodec.prepare();
    try {
      await Promise.all(this.plan.lines.map((l) => this.runLine(l)));
    } finally {
      clearInterval(ticker);
      clearTimeout(enableLoop);
      loop.disable();
    }
    const c = process.cpuUsage(cpu0);
    for (const check of this.checks.splice(0)) await check();
    maxRss = Math.max(maxRss, process.memoryUsage.rss());
    return {
      peers: this.results,
      latency: { counts: this.tracker.latency.toSparse(), max: this.tracker.latency.max },
      loss: this.tracker.lossSeries(),
      load: {
        shard: this.plan.shard,
        worker: this.plan.worker,
        peers: this.plan.lines.reduce((n, l) => n + l.peers.length, 0),
        cpuSeconds: Math.round((c.user + c.system) / 1e4) / 100,
        wallSeconds: Math.round((performance.now() - wall0) / 10) / 100,
        // The histogram holds whole sampling intervals (idle reads ~10 ms at a 10 ms resolution): keep the delay beyond it.
        eventLoopP99Ms: loop.count ? Math.max(0, Math.round((loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS) * 100) / 100) : 0,
        maxRssMb: Math.round(maxRss / 1e6),
      },
    };
  }
}

function send(message: WorkerMessage): void {
  process.send?.(message);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

if (require.main === module) {
  // Before any peer or flooder makes its keys: every frame of this process on node:crypto.
  useNodeCrypto();
  process.once('message', (message: { type: 'start'; plan: WorkerPlan }) => {
    new Worker(message.plan)
      .run()
      .then((r) => send({ type: 'result', result: r }))
      .catch((err: Error) => send({ type: 'error', message: err.stack ?? err.message }))
      .finally(() => process.disconnect?.());
  });
}
