/**
 * Per-worker bookkeeping on the worker's one clock: each sender's recent send times by counter
 * (a ring: a frame older than the ring is not expected any more), and for each receiver the
 * latency, late and reordered frames, first and last arrival. Every call is O(1) and allocation
 * free: it runs for every frame of every peer.
 */
import { LatencyHistogram } from './histogram.js';
import { LossSeries } from './results.js';

/** 1024 frames: 10 s at 100 frames a second, 3 s for the over-budget sender. */
const RING = 1024;
const RING_N = BigInt(RING);

class SenderTrack {
  readonly sentAt = new Float64Array(RING);
  readonly ctrs = new Float64Array(RING).fill(-1);
  constructor(
    readonly owner: PeerTrack,
    /** Counted in the loss series (the normal lines only). */
    readonly counted: boolean,
    readonly receivers: number,
  ) {}
}

export class PeerTrack {
  readonly latency = new LatencyHistogram();
  late = 0;
  reordered = 0;
  firstRx = 0;
  lastRx = 0;
  firstTx = 0;
  lastTx = 0;
  sentFrames = 0;
  receivedFrames = 0;
  private readonly lastCtr = new Map<bigint, bigint>();
  constructor(readonly id: string) {}

  noteReceived(sender: bigint, ctr: bigint, at: number): void {
    this.receivedFrames++;
    if (!this.firstRx) this.firstRx = at;
    this.lastRx = at;
    const last = this.lastCtr.get(sender);
    if (last !== undefined && ctr < last) this.reordered++;
    else this.lastCtr.set(sender, ctr);
  }
}

export class Tracker {
  private readonly senders = new Map<bigint, SenderTrack>();
  /** The normal lines' latency, for the certificate's CDF and percentiles. */
  readonly latency = new LatencyHistogram();
  private readonly startSecond: number;
  private readonly expected: number[] = [];
  private readonly received: number[] = [];
  /** Totals for the progress display. */
  sent = 0;
  heard = 0;

  constructor(
    private readonly lateMs: number,
    /** performance.timeOrigin of this process: turns performance.now() into epoch ms. */
    private readonly timeOrigin = performance.timeOrigin,
  ) {
    this.startSecond = Math.floor((timeOrigin + performance.now()) / 1000);
  }

  onSent(owner: PeerTrack, counted: boolean, receivers: number, sender: bigint, ctr: bigint, at: number): void {
    let s = this.senders.get(sender);
    if (!s) this.senders.set(sender, (s = new SenderTrack(owner, counted, receivers)));
    const slot = Number(ctr % RING_N);
    s.sentAt[slot] = at;
    s.ctrs[slot] = Number(ctr);
    if (!owner.firstTx) owner.firstTx = at;
    owner.lastTx = at;
    owner.sentFrames++;
    this.sent++;
    if (counted) this.bump(this.expected, at, receivers);
  }

  onReceived(receiver: PeerTrack, sender: bigint, ctr: bigint, at: number): void {
    receiver.noteReceived(sender, ctr, at);
    this.heard++;
    const s = this.senders.get(sender);
    if (!s) return;
    const slot = Number(ctr % RING_N);
    if (s.ctrs[slot] !== Number(ctr)) {
      receiver.late++;
      return;
    }
    const ms = at - s.sentAt[slot];
    receiver.latency.add(ms);
    if (ms > this.lateMs) receiver.late++;
    if (s.counted) {
      this.latency.add(ms);
      this.bump(this.received, s.sentAt[slot], 1);
    }
  }

  private bump(series: number[], at: number, n: number): void {
    const i = Math.floor((this.timeOrigin + at) / 1000) - this.startSecond;
    if (i < 0) return;
    while (series.length <= i) series.push(0);
    series[i] += n;
  }

  lossSeries(): LossSeries {
    const len = Math.max(this.expected.length, this.received.length);
    const pad = (a: number[]) => Array.from({ length: len }, (_, i) => a[i] ?? 0);
    return { startEpochSecond: this.startSecond, expected: pad(this.expected), received: pad(this.received) };
  }
}
