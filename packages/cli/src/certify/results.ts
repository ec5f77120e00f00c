/** What workers and shards report: plain JSON, so it crosses process boundaries and merges by addition. */
import type { LayerName } from '@studioline/protocol';
import { SparseCounts } from './histogram.js';
import type { PeerRole } from './plan.js';

export interface AudioCheck {
  /** The tones the other members sent, and the one heard (the dominant frequency of the recording). */
  expectedHz: number[];
  heardHz: number;
  /** RMS level in dBFS, expected from the sender's amplitude, and heard. */
  expectedDb: number;
  heardDb: number;
  ok: boolean;
}

export interface PeerResult {
  id: string;
  role: PeerRole;
  /** The layer it sends and receives on (full, or compact for a `mobile=1` peer): its budget follows from it. */
  layer: LayerName;
  /** The budget each way that applies to it (bit/s), set by the certificate (certify/layer-budget.ts). */
  budgetBps?: number;
  shard: number;
  line: number;
  joined: boolean;
  /** Why it could not join or was ended by the server. */
  error?: string;
  /** Stopped past its line's end because the certifier had fallen behind real time (its shortfall is in unsent). */
  overran?: boolean;
  joinMs?: number;
  sent: number;
  /** Frames the other members sent while this one listened (each frame is expected once at each other member). */
  expected: number;
  received: number;
  /** Of those, frames of the compact layer (a mobile peer must hear nothing else). */
  compactReceived?: number;
  lost: number;
  late: number;
  reordered: number;
  decryptFailed: number;
  replayed: number;
  malformed: number;
  reconnects: number;
  /** Frames the certifier could not send in time (its own shortfall, not the deployment's). */
  unsent: number;
  upBps: number;
  downBps: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number } | null;
  audio?: AudioCheck;
  /** Warnings the gateway sent (over_budget, malformed_frame), by code. */
  warnings: Record<string, number>;
}

export interface LossSeries {
  /** Epoch second of the first entry; entry i counts frames sent in that second plus i. */
  startEpochSecond: number;
  expected: number[];
  received: number[];
}

export interface CertifierLoad {
  shard: number;
  worker: number;
  peers: number;
  cpuSeconds: number;
  wallSeconds: number;
  /** Event-loop delay p99 while the peers ran: above a few ms the certifier's own timing is off. */
  eventLoopP99Ms: number;
  maxRssMb: number;
}

export interface WorkerResult {
  peers: PeerResult[];
  /** Mouth-to-ear latency of the normal lines' frames. */
  latency: { counts: SparseCounts; max: number };
  loss: LossSeries;
  load: CertifierLoad;
}

export interface WorkerProgress {
  worker: number;
  activePeers: number;
  sent: number;
  received: number;
  cpuSeconds: number;
}

export type WorkerMessage = { type: 'progress'; progress: WorkerProgress } | { type: 'result'; result: WorkerResult } | { type: 'error'; message: string };
