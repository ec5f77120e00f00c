/**
 * The binary websocket message between a client and the gateway, both ways, forwarded unchanged:
 *
 *   byte 0    bits 0-6: audio level (RFC 6464 scale: 0 loudest, 127 silence); bit 7: the first
 *             frame of a talk spurt (its sender paused before it: push-to-talk up, muted; the
 *             counters it skipped were never sent, not lost: RTP's marker bit, for audio). In
 *             clear, authenticated as SFrame metadata
 *   bytes 1-  an SFrame ciphertext (header, encrypted audio frame, tag)
 *
 * The gateway checks the shape (and that the KID is the sender's own id, on a layer it declared)
 * but cannot decrypt.
 *
 * Layers. A sender can send its audio in more than one layer (full-rate PCM, compact Opus), each its
 * own SFrame stream with its own key. The layer travels in the KID, which every server already
 * reads in clear:
 *
 *   KID = layer x 2^48 + sender id        (the sender id is 48 bits: keys.ts)
 *
 * Layer 0 (full rate) is the sender id alone, exactly the KID of frames from before layers
 * existed, so old full-rate frames keep their meaning. A compact frame's KID is 7 bytes long
 * (0x01 then the six bytes of the sender id). Because the KID derives the key (keys.ts), the layer
 * cannot be changed by a server without breaking the frame, and one field cannot disagree with
 * another: there is no second copy of the layer anywhere.
 */

/** Byte 0's bits: the level, and the first frame of a talk spurt. */
export const LEVEL_BITS = 0x7f;
export const SPURT_START_BIT = 0x80;

/** level byte + smallest SFrame header + 16-byte tag */
export const MIN_WIRE_FRAME_BYTES = 1 + 1 + 16;
/**
 * The largest message a gateway accepts: a 10 ms frame at 384 kHz is 7.7 kB; anything above 16 KiB
 * is refused with close code 1009.
 */
export const MAX_WIRE_FRAME_BYTES = 16 * 1024;

/** The layers, best first: a receiver gets the best layer a sender sends at or below what it asked for. */
export const LAYER_FULL = 0;
export const LAYER_COMPACT = 1;
/** Layer names as the join message carries them, indexed by layer number. */
export const LAYER_NAMES = ['full', 'compact'] as const;
export type LayerName = (typeof LAYER_NAMES)[number];
export const LAYER_COUNT = LAYER_NAMES.length;

/** The span of sender ids: the layer is the KID's part above it. */
const SENDER_SPAN = 2 ** 48;
const SENDER_SPAN_BIG = 1n << 48n;

/** The layer number of a name, or -1. */
export function layerNumber(name: unknown): number {
  return LAYER_NAMES.indexOf(name as LayerName);
}

/** The SFrame KID of a sender's frames on one layer. */
export function layerKid(senderId: bigint, layer: number): bigint {
  return BigInt(layer) * SENDER_SPAN_BIG + senderId;
}

/** The sender id of a KID (bigint, as receivers hold it). */
export function kidSenderId(kid: bigint): bigint {
  return kid % SENDER_SPAN_BIG;
}

/** The layer of a KID (bigint, as receivers hold it). */
export function kidLayer(kid: bigint): number {
  return Number(kid / SENDER_SPAN_BIG);
}

/**
 * The KID of a wire frame, or -1 when the frame is malformed or names no known layer. Returns a
 * number (KIDs below 2^53 are exact) so the gateway's hot path allocates nothing; split it with
 * {@link wireKidSender} and {@link wireKidLayer}.
 */
export function wireFrameKid(frame: Uint8Array): number {
  if (frame.length < MIN_WIRE_FRAME_BYTES) return -1;
  const config = frame[1];
  if ((config & 0x80) === 0) return (config >> 4) & 7;
  const len = ((config >> 4) & 7) + 1;
  if (len > 7 || frame.length < 2 + len + 16) return -1;
  // A 7-byte KID carries a layer in its first byte; only known layers keep the number exact.
  if (len === 7 && frame[2] >= LAYER_COUNT) return -1;
  let kid = 0;
  for (let i = 0; i < len; i++) kid = kid * 256 + frame[2 + i];
  return kid;
}

/** The sender id of a KID from {@link wireFrameKid}. */
export function wireKidSender(kid: number): number {
  return kid % SENDER_SPAN;
}

/** The layer of a KID from {@link wireFrameKid}. */
export function wireKidLayer(kid: number): number {
  return Math.floor(kid / SENDER_SPAN);
}

/** The layer of a wire frame, or -1 when it is malformed (the relay's per-frame question). */
export function wireFrameLayer(frame: Uint8Array): number {
  const kid = wireFrameKid(frame);
  return kid < 0 ? -1 : wireKidLayer(kid);
}

/** The audio level (RFC 6464 scale: 0 loudest, 127 silence) of a frame at least one byte long. */
export function wireFrameLevel(frame: Uint8Array): number {
  return frame[0] & LEVEL_BITS;
}
