/**
 * Which layer of each sender each receiver gets. Every sender says at its join which layers it
 * sends (a bit mask: full-rate PCM and compact Opus for a full-rate peer, compact only for a
 * `mobile=1` peer), and every receiver has a ceiling: the best layer it wants (full, or compact for
 * a mobile peer). A receiver gets, of each sender, the best layer that sender sends at or below its
 * ceiling: full to full-rate receivers, compact to mobile ones, and compact to everybody from a
 * mobile sender. A receiver whose ceiling no layer of a sender meets (a mobile receiver and a
 * sender of the full layer only) gets nothing of that sender: it was promised a compact budget
 * (compact-layer.ts), so its frames are dropped and counted as `no_layer` rather than sent.
 *
 * The ceiling is the one knob. It starts at what the receiver asked for at its join; its gateway
 * steps it down while the receiver's link is in trouble and back up after a calm spell
 * (layer-step.ts in the gateway, a `ceiling` envelope here), through {@link LineTable.setCeiling},
 * which rebuilds the line's routes; the forwarding loop needs nothing more. A ceiling never rises
 * above what the receiver asked for (`Member.wanted`): a mobile peer stays compact. A step down is
 * best effort: of a sender that sends nothing at or below the stepped-down ceiling (a peer without
 * the compact layer), the receiver keeps the best layer it asked for, rather than losing a voice.
 */
import { LAYER_COUNT, encodeDeliverHeader } from '@studioline/protocol';
import type { DeliverTarget, Member } from './line-table.js';

/** The layer of a sender's frames that a receiver with `ceiling` gets, or -1 when none. */
export function layerFor(ceiling: number, senderLayers: number): number {
  for (let layer = Math.max(0, ceiling); layer < LAYER_COUNT; layer++) if (senderLayers & (1 << layer)) return layer;
  return -1;
}

/** The layer of a sender's frames that `receiver` gets (see above), or -1 when none. */
export function receiverLayer(receiver: Pick<Member, 'ceiling' | 'wanted'>, senderLayers: number): number {
  const layer = layerFor(receiver.ceiling, senderLayers);
  if (layer >= 0 || receiver.wanted >= receiver.ceiling) return layer;
  for (let l = receiver.ceiling - 1; l >= receiver.wanted; l--) if (senderLayers & (1 << l)) return l;
  return -1;
}

/** The best layer a sender sends (the one whose frames count a receiver that gets none as `no_layer`), or -1. */
export function bestLayer(senderLayers: number): number {
  return layerFor(0, senderLayers);
}

export interface SenderRoutes {
  /** Per layer, where this sender's frames of that layer go: one target per gateway with receivers of it. */
  byLayer: DeliverTarget[][];
  /** Per layer, how many receivers miss each frame of it (none of the sender's layers suits them); only on the sender's best layer. */
  missed: number[];
}

/** One target per gateway of `receivers`, naming their connections there. */
export function targetsByGateway(receivers: readonly Member[], channelOf: (gateway: string) => string): DeliverTarget[] {
  const byGateway = new Map<string, number[]>();
  for (const receiver of receivers) {
    const list = byGateway.get(receiver.gateway) ?? [];
    list.push(receiver.conn);
    byGateway.set(receiver.gateway, list);
  }
  return [...byGateway].map(([gateway, conns]) => ({ gateway, channel: channelOf(gateway), conns, header: encodeDeliverHeader(conns) }));
}

/** Builds a sender's routes to the other members of its line. */
export function routeSender(sender: Member, members: readonly Member[], channelOf: (gateway: string) => string): SenderRoutes {
  const receivers: Member[][] = Array.from({ length: LAYER_COUNT }, () => []);
  const missed = new Array<number>(LAYER_COUNT).fill(0);
  const best = bestLayer(sender.layers);
  for (const receiver of members) {
    if (receiver === sender) continue;
    const layer = receiverLayer(receiver, sender.layers);
    if (layer >= 0) receivers[layer].push(receiver);
    else if (best >= 0) missed[best]++;
  }
  return { byLayer: receivers.map((list) => targetsByGateway(list, channelOf)), missed };
}
