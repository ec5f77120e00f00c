/**
 * The binary websocket message between a client and the gateway, both ways, forwarded unchanged:
 *
 *   byte 0    audio level (RFC 6464 scale), in clear, authenticated as SFrame metadata
 *   bytes 1-  an SFrame ciphertext (header, encrypted audio frame, tag)
 *
 * The gateway checks the shape (and that the KID is the sender's own id) but cannot decrypt.
 */

/** level byte + smallest SFrame header + 16-byte tag */
export const MIN_WIRE_FRAME_BYTES = 1 + 1 + 16;
/**
 * The largest message a gateway accepts: a 10 ms frame at 384 kHz is 7.7 kB; anything above 16 KiB
 * is refused with close code 1009.
 */
export const MAX_WIRE_FRAME_BYTES = 16 * 1024;

/**
 * The sender id (SFrame KID) of a wire frame, or -1 when the frame is malformed. Returns a number
 * (48-bit ids fit) so the gateway's hot path allocates nothing.
 */
export function wireFrameKid(frame: Uint8Array): number {
  if (frame.length < MIN_WIRE_FRAME_BYTES || frame[0] > 127) return -1;
  const config = frame[1];
  if ((config & 0x80) === 0) return (config >> 4) & 7;
  const len = ((config >> 4) & 7) + 1;
  if (len > 6 || frame.length < 2 + len + 16) return -1;
  let kid = 0;
  for (let i = 0; i < len; i++) kid = kid * 256 + frame[2 + i];
  return kid;
}

/** The audio level (RFC 6464 scale: 0 loudest, 127 silence) of a frame at least one byte long. */
export function wireFrameLevel(frame: Uint8Array): number {
  return frame[0];
}
