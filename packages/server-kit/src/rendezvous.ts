/**
 * Rendezvous (highest random weight) hashing: every gateway that knows the same live relays picks
 * the same relay for a line, and when a relay leaves only its own lines move.
 */
import { createHash } from 'node:crypto';

function weight(lineId: string, relayId: string): bigint {
  return createHash('sha256').update(lineId).update('\0').update(relayId).digest().readBigUInt64BE(0);
}

/** The relay that owns `lineId` among `relays`, or undefined when there is none. */
export function pickRelay(lineId: string, relays: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1n;
  for (const relay of relays) {
    const w = weight(lineId, relay);
    if (w > bestWeight || (w === bestWeight && best !== undefined && relay < best)) {
      best = relay;
      bestWeight = w;
    }
  }
  return best;
}
