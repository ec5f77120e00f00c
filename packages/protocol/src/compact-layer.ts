/**
 * The compact layer: one Opus setting, used by every encoder (WebCodecs in the page, libopus in
 * the Node peer), and the bound the gateway holds compact frames to.
 *
 * Why these numbers:
 * - 48 kHz mono, the rate Opus codes natively (fullband, 20 kHz audio bandwidth).
 * - 10 ms frames: the full layer's frame clock (FRAME_MS), so one captured frame makes one packet
 *   and the compact layer adds no framing delay over the full one.
 * - 48 kbit/s, constant bitrate: the middle of the 32-64 kbit/s range where Opus carries music
 *   well in mono; constant, so every packet is 60 bytes and a mobile receiver's download is a
 *   known figure (about 73 kbit/s per speaker with SFrame and websocket framing) rather than a
 *   peak that depends on the music.
 * - In-band FEC on, with the encoder told to expect 10 % loss: each packet carries a coarse copy
 *   of the previous one, so a receiver that lost one frame rebuilds it from the next. libopus
 *   then codes in its hybrid mode (SILK below 8 kHz, where the FEC copy lives, CELT above).
 * - DTX off: music has quiet passages that are not silence, and a steady packet stream keeps the
 *   jitter buffer's clock fed.
 */
import { FRAME_MS } from './audio-frame.js';

export const COMPACT_SAMPLE_RATE = 48_000;
/** 480 samples: one 10 ms frame. */
export const COMPACT_FRAME_SAMPLES = (COMPACT_SAMPLE_RATE * FRAME_MS) / 1000;
export const COMPACT_BITRATE_BPS = 48_000;
export const COMPACT_FEC = true;
export const COMPACT_EXPECTED_LOSS_PERCENT = 10;
export const COMPACT_DTX = false;
/** libopus's highest complexity: a 10 ms mono frame costs well under a millisecond even in WebAssembly. */
export const COMPACT_COMPLEXITY = 10;

/**
 * A mobile receiver downloads at most this much per speaker (DESIGN.md §8), counted at its socket:
 * the wire frame plus the websocket's own header.
 */
export const COMPACT_BUDGET_BPS = 130_000;
/** A server-to-client websocket header for a payload of 126 to 65,535 bytes (2 bytes below 126). */
const WS_HEADER_BYTES = 4;

/** What a compact wire frame of `length` bytes costs a receiver's socket: the frame and its websocket header. */
export function compactSocketBytes(length: number): number {
  return length + (length < 126 ? 2 : WS_HEADER_BYTES);
}
/**
 * The largest compact wire frame a gateway accepts: 100 frames a second of it, websocket header
 * included, stay within {@link COMPACT_BUDGET_BPS} (158 + 4 bytes x 100 x 8 = 129.6 kbit/s). Our
 * encoders make 89-byte frames; a bigger one is dropped and counted (`compact_too_big`). A sender
 * of more frames a second is held to the same budget over the gateway's budget window
 * (`compact_over_budget`): no sender can make a mobile receiver download more than that per speaker.
 */
export const MAX_COMPACT_WIRE_FRAME_BYTES = Math.floor((COMPACT_BUDGET_BPS * FRAME_MS) / 1000 / 8) - WS_HEADER_BYTES;
/** level byte + the longest header of a compact frame (config, 7-byte KID, 8-byte CTR) + format byte + tag */
const COMPACT_OVERHEAD_BYTES = 1 + (1 + 7 + 8) + 1 + 16;
/** The encoders' hard cap on a packet, so that no frame they make can pass the gateway's bound. */
export const COMPACT_MAX_PACKET_BYTES = MAX_COMPACT_WIRE_FRAME_BYTES - COMPACT_OVERHEAD_BYTES;
