/**
 * AUDIO: one peer's audio frame, from the gateway it entered to the relay that owns its line.
 *
 *   byte  0      0x01, the envelope type
 *   bytes 1-4    member, u32 big-endian: the relay's number for the sending peer on its line
 *   bytes 5-12   sentAt, f64 big-endian: when the frame reached the gateway, in ms since the epoch
 *                with microseconds ({@link preciseNow}); the relay copies it into DELIVER so the
 *                delivering gateway can measure the server-added latency
 *   bytes 13-    the wire frame, unchanged (at least its level byte, which the relay reads)
 *
 * The gateway publishes the header and the frame as two parts that the bus writes together, so the
 * frame is never copied into an envelope.
 */
import { EnvelopeError, expectEnvelopeType, hasEnvelopeType } from './envelope.js';

export const AUDIO_ENVELOPE = 0x01;
export const AUDIO_ENVELOPE_HEADER_BYTES = 13;
const MEMBER_OFFSET = 1;
const SENT_AT_OFFSET = 5;

export interface AudioEnvelope {
  member: number;
  sentAt: number;
  /** The wire frame: a view into the envelope, not a copy. */
  frame: Buffer;
}

/** The header that goes in front of a frame (publish both; the frame is not copied). */
export function encodeAudioHeader(member: number, sentAt: number): Buffer {
  const header = Buffer.allocUnsafe(AUDIO_ENVELOPE_HEADER_BYTES);
  header[0] = AUDIO_ENVELOPE;
  header.writeUInt32BE(member, MEMBER_OFFSET);
  header.writeDoubleBE(sentAt, SENT_AT_OFFSET);
  return header;
}

/** True when the first byte says AUDIO; {@link decodeAudioEnvelope} checks the rest. */
export function isAudioEnvelope(msg: Uint8Array): boolean {
  return hasEnvelopeType(msg, AUDIO_ENVELOPE);
}

/** @throws EnvelopeError when `msg` is not an AUDIO envelope or is too short to hold a frame. */
export function decodeAudioEnvelope(msg: Buffer): AudioEnvelope {
  expectEnvelopeType(msg, AUDIO_ENVELOPE, 'an AUDIO');
  if (msg.length <= AUDIO_ENVELOPE_HEADER_BYTES) {
    throw new EnvelopeError(`AUDIO envelope truncated: ${msg.length} bytes, needs a ${AUDIO_ENVELOPE_HEADER_BYTES}-byte header and a frame`);
  }
  return { member: msg.readUInt32BE(MEMBER_OFFSET), sentAt: msg.readDoubleBE(SENT_AT_OFFSET), frame: msg.subarray(AUDIO_ENVELOPE_HEADER_BYTES) };
}
