/**
 * Who plays what: the lines of a run (over every shard), which shard and worker drives each, when
 * each line joins and leaves, and the tone each peer sends. Both peers of a line always live in
 * one worker process, so that a frame's send and arrival times are read on the same clock.
 */
import type { LayerName } from '@studioline/protocol';
import { CertifyOptions } from './options.js';

/**
 * normal: a peer of the measured lines; flooder and partner: the over-budget line; mobile and
 * mobile-partner: a mobile line (a `mobile=1` peer and the full-rate peer it calls, which sends
 * the compact layer beside the full one).
 */
export type PeerRole = 'normal' | 'flooder' | 'partner' | 'mobile' | 'mobile-partner';

export interface PeerPlan {
  /** Global name, `L<line>.<member>` (the over-budget line is `over.flooder` and `over.partner`, mobile line k `mobile<k>.full` and `mobile<k>.mobile`). */
  id: string;
  role: PeerRole;
  /** The layer it sends and receives on: full rate, or compact only (a `mobile=1` peer). */
  layer: LayerName;
  toneHz: number;
  amplitude: number;
  /** Keep what it hears for the tone and level check (the certificate says how many did). */
  record: boolean;
}

export interface LinePlan {
  index: number;
  /** When the line joins and how long its peers send, in ms from the run's start. */
  startMs: number;
  sendMs: number;
  peers: PeerPlan[];
  /** The over-budget sender's bit rate (the over-budget line only). */
  floodBps?: number;
  /** A mobile line: its second peer joins with `mobile=1`. */
  mobile?: boolean;
}

/** Line numbers of the lines that are not measured lines: the over-budget line is -1, mobile line k is -2 - k. */
export const OVER_BUDGET_LINE = -1;
export const mobileLineIndex = (k: number) => -2 - k;

export interface WorkerPlan {
  shard: number;
  worker: number;
  url: string;
  key: string;
  ca?: string;
  lateMs: number;
  /** Wall-clock time (ms since epoch) of the run's start, common to every worker and shard. */
  startEpochMs: number;
  lines: LinePlan[];
}

/** Tones are whole multiples of 100 Hz: a 10 ms frame then holds whole cycles and every frame is the same (computed once). */
export function toneFor(peerIndex: number): number {
  return 100 * (3 + ((peerIndex * 37) % 150));
}

export function amplitudeFor(peerIndex: number): number {
  return 0.5 - 0.05 * (peerIndex % 5);
}

/** Bytes of decoded PCM a recording receiver keeps per second (4 bytes per sample at 200 kHz). */
const RECORD_BYTES_PER_SECOND = 200_000 * 2 * 2;

export function planShard(o: CertifyOptions & { key: string }, startEpochMs: number): WorkerPlan[] {
  const lines = Math.ceil(o.peers / o.linesOf);
  const durationMs = o.durationSeconds * 1000;
  const rampUpMs = o.rampUpSeconds * 1000;
  const rampDownMs = o.rampDownSeconds * 1000;
  const holdMs = durationMs - rampUpMs - rampDownMs;
  const workers: WorkerPlan[] = Array.from({ length: o.workers }, (_, worker) => ({
    shard: o.shardIndex,
    worker,
    url: o.url,
    key: o.key,
    ca: o.ca,
    lateMs: o.lateMs,
    startEpochMs,
    lines: [],
  }));
  const recordBudget = new Array(o.workers).fill(o.recordMb * 1024 * 1024);
  let local = 0;
  for (let i = o.shardIndex; i < lines; i += o.shards, local++) {
    const w = local % o.workers;
    const startMs = Math.round((rampUpMs * i) / lines);
    const stopMs = Math.round(rampUpMs + holdMs + (rampDownMs * i) / lines);
    const sendMs = stopMs - startMs;
    const perPeer = (sendMs / 1000) * RECORD_BYTES_PER_SECOND * (o.linesOf - 1);
    const peers: PeerPlan[] = [];
    for (let m = 0; m < o.linesOf; m++) {
      const p = i * o.linesOf + m;
      const record = recordBudget[w] >= perPeer;
      if (record) recordBudget[w] -= perPeer;
      peers.push({ id: `L${i}.${m}`, role: 'normal', layer: 'full', toneHz: toneFor(p), amplitude: amplitudeFor(p), record });
    }
    workers[w].lines.push({ index: i, startMs, sendMs, peers });
  }
  if (o.overBudgetBps > 0 && o.shardIndex === 0) {
    workers[0].lines.push({
      index: OVER_BUDGET_LINE,
      startMs: rampUpMs,
      sendMs: holdMs,
      floodBps: o.overBudgetBps,
      peers: [
        { id: 'over.flooder', role: 'flooder', layer: 'full', toneHz: 1000, amplitude: 0.5, record: false },
        { id: 'over.partner', role: 'partner', layer: 'full', toneHz: 2000, amplitude: 0.5, record: false },
      ],
    });
  }
  // Mobile lines run through the hold, like the over-budget line, in a worker of their own: their
  // peers encode and decode Opus (about 0.4 ms of CPU per frame in WebAssembly, 0.17 cores for one
  // line), which in a worker of the measured lines would delay their frames and fail its own
  // event-loop check.
  const mobileWorker: WorkerPlan = { ...workers[0], worker: o.workers, lines: [] };
  if (o.shardIndex === 0 && o.mobileLines > 0) workers.push(mobileWorker);
  for (let k = 0; o.shardIndex === 0 && k < o.mobileLines; k++) {
    mobileWorker.lines.push({
      index: mobileLineIndex(k),
      startMs: rampUpMs,
      sendMs: holdMs,
      mobile: true,
      peers: [
        { id: `mobile${k}.full`, role: 'mobile-partner', layer: 'full', toneHz: 3000 + 100 * k, amplitude: 0.5, record: false },
        { id: `mobile${k}.mobile`, role: 'mobile', layer: 'compact', toneHz: 4000 + 100 * k, amplitude: 0.5, record: false },
      ],
    });
  }
  return workers;
}

/** The http(s) origin for call links, from whatever form of URL the operator gave. */
export function linkOrigin(url: string): string {
  const u = new URL(url.replace(/^ws/, 'http'));
  return u.origin;
}
