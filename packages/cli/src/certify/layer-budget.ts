/**
 * The budget that applies to each peer of a certification, by the layer it is on:
 *   full     the deployment's per-peer budget each way (`--budget`, the gateways' BUDGET_BPS)
 *   compact  the compact layer's budget per speaker heard (COMPACT_BUDGET_BPS, the one the gateway
 *            holds compact frames to), times the speakers it can hear: the other members of its
 *            line (the relay seats at most that many; a 1:1 mobile line hears one)
 * and, per layer, the highest rate any peer on it reached, for the certificate's budget check.
 */
import { COMPACT_BUDGET_BPS, LAYER_NAMES, LayerName } from '@studioline/protocol';
import type { PeerResult } from './results.js';

/** The budget is enforced over short windows: 2 % over it on average is a breach. */
export const BUDGET_TOLERANCE = 1.02;

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
export function layerBudgets(peers: readonly PeerResult[], fullBudgetBps: number): LayerBudget[] {
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
      if (highest > budget * BUDGET_TOLERANCE) ok = false;
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
