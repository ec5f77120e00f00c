/**
 * The budget that applies to each peer of a certification, by the layer it is on:
 *   full     the deployment's per-peer budget each way (`--budget`, the gateways' BUDGET_BPS)
 *   compact  the compact layer's budget per speaker heard (COMPACT_BUDGET_BPS, the one the gateway
 *            holds compact frames to), times the speakers it can hear: the other members of its
 *            line (the relay seats at most that many; a 1:1 mobile line hears one)
 * and, per layer, the highest rate any peer on it reached, for the certificate's budget check.
 */
import { GATEWAY_DEFAULTS } from '@studioline/gateway';
import { COMPACT_BUDGET_BPS, LAYER_NAMES, LayerName } from '@studioline/protocol';
import type { PeerResult } from './results.js';

/** The budget is enforced over short windows: 2 % over it on average is a breach (in a long enough run: below). */
export const BUDGET_TOLERANCE = 1.02;

/**
 * How far over its budget a peer's average rate may read in a run of `seconds` and still have been
 * held to it. The gateway holds a sender to the budget over any window of BUDGET_WINDOW_MS, so a
 * sender pressing at the limit for D seconds passes up to D seconds' worth plus one window's:
 * averaged over a short run that reads over by the window's share (8 % in the 12 s call of
 * `helm test`, where a throttled partner read 7.17 Mbit/s once). Never less than BUDGET_TOLERANCE.
 */
export function budgetTolerance(seconds: number, windowMs = GATEWAY_DEFAULTS.budgetWindowMs): number {
  return Math.max(BUDGET_TOLERANCE, 1 + windowMs / 1000 / Math.max(1, seconds));
}

export interface LayerBudget {
  layer: LayerName;
  /** What the budget is counted per: a full-rate peer each way, or each speaker a compact peer hears. */
  per: 'peer' | 'speaker';
  /** The budget per peer (full) or per speaker heard (compact), bit/s. */
  budgetBps: number;
  peers: number;
  /** The highest rate (up or down) of a peer on this layer, and who. */
  highestBps: number;
  highestPeer: string | null;
  /** That peer's own budget (compact: per speaker times the speakers it hears). */
  highestPeerBudgetBps: number;
  ok: boolean;
}

/** The speakers a peer can hear: the other members of its line (lines are numbered per shard). */
function speakersHeard(peer: PeerResult, peers: readonly PeerResult[]): number {
  return Math.max(1, peers.filter((p) => p.shard === peer.shard && p.line === peer.line).length - 1);
}

/** The budget each way that applies to `peer`, bit/s. Peers from before layers are full-rate. */
export function peerBudgetBps(peer: PeerResult, peers: readonly PeerResult[], fullBudgetBps: number): number {
  return (peer.layer ?? 'full') === 'compact' ? COMPACT_BUDGET_BPS * speakersHeard(peer, peers) : fullBudgetBps;
}

/** Per layer with any peer on it: its budget and the highest rate measured against it. */
export function layerBudgets(peers: readonly PeerResult[], fullBudgetBps: number, tolerance = BUDGET_TOLERANCE): LayerBudget[] {
  const out: LayerBudget[] = [];
  for (const layer of LAYER_NAMES) {
    const on = peers.filter((p) => (p.layer ?? 'full') === layer);
    if (!on.length) continue;
    let top: PeerResult | undefined;
    let worst = -Infinity;
    let ok = true;
    for (const p of on) {
      const budget = peerBudgetBps(p, peers, fullBudgetBps);
      const highest = Math.max(p.upBps, p.downBps);
      if (highest > budget * tolerance) ok = false;
      // The peer closest to (or furthest over) its own budget is the one to show.
      if (highest / budget > worst) [worst, top] = [highest / budget, p];
    }
    out.push({
      layer,
      per: layer === 'compact' ? 'speaker' : 'peer',
      budgetBps: layer === 'compact' ? COMPACT_BUDGET_BPS : fullBudgetBps,
      peers: on.length,
      highestBps: top ? Math.max(top.upBps, top.downBps) : 0,
      highestPeer: top?.id ?? null,
      highestPeerBudgetBps: top ? peerBudgetBps(top, peers, fullBudgetBps) : 0,
      ok,
    });
  }
  return out;
}
