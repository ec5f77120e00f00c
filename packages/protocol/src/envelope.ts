/**
 * Envelopes between gateways and relays over the bus (Redis pub/sub or in memory). Server-side
 * only: the codecs use Node's Buffer.
 *
 * Audio is binary and allocation-lean, one codec per format, each documenting its byte layout:
 *   AUDIO   gateway -> relay     audio-envelope.ts
 *   DELIVER relay -> gateway     deliver-envelope.ts
 * Control (joins, leaves, membership events) is rare and travels as JSON, told apart by the first
 * byte ('{' is 0x7b; the audio types are below 0x10).
 *
 * `member` is the relay's number for one peer on one line (returned when it joined), `conn` a
 * gateway's number for one websocket. Both are local to one process lifetime; process ids are
 * random, so a restarted relay or gateway never receives envelopes meant for its predecessor.
 */

/** An envelope that cannot be read (truncated, or not the type its reader expects). */
export class EnvelopeError extends Error {
  readonly code = 'malformed_envelope';
}

/** True when the first byte of `msg` is the binary envelope type `type`. */
export function hasEnvelopeType(msg: Uint8Array, type: number): boolean {
  return msg.length > 0 && msg[0] === type;
}

/** @throws EnvelopeError naming `name` when the first byte of `msg` is not `type`. */
export function expectEnvelopeType(msg: Uint8Array, type: number, name: string): void {
  if (!hasEnvelopeType(msg, type)) throw new EnvelopeError(`not ${name} envelope (type byte ${msg.length ? msg[0] : 'missing'})`);
}

/** Wall-clock time in ms with sub-ms precision, comparable between processes on one host or NTP-synced hosts. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Control envelopes, JSON. `gw` is the gateway id, `conn` its connection number. A join's `layers`
 * is a bit mask of the layers the peer sends (bit n: layer n, wire-frame.ts) and `receive` the best
 * layer it wants; a gateway from before layers sends neither (full layer only). `ceiling` (a join,
 * or on its own) is the best layer it is sent now: a gateway steps a receiver whose link is in
 * trouble down to a worse layer than it wants, and back (layer-step.ts); never above `receive`.
 */
export type ControlEnvelope =
  | { t: 'join'; gw: string; conn: number; line: string; sender: string; capacity: number; rejoin: boolean; layers?: number; receive?: number; ceiling?: number }
  | { t: 'leave'; gw: string; member: number }
  | { t: 'ceiling'; gw: string; member: number; ceiling: number }
  | { t: 'joined'; relay: string; conn: number; member: number; peers: string[]; capacity: number }
  | { t: 'refused'; conn: number; code: 'line_full' | 'bad_request' }
  | { t: 'peer'; event: 'joined' | 'left'; conns: number[]; sender: string };

export function isControlEnvelope(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === 0x7b;
}
