/**
 * DELIVER: one audio frame, from the relay that owns a line to a gateway with members of it.
 *
 *   byte  0       0x02, the envelope type
 *   bytes 1-8     sentAt, f64 big-endian: copied from the frame's AUDIO envelope
 *   byte  9       n, how many destinations (1-255; lines hold far fewer peers)
 *   bytes 10-     n destination conns, u32 big-endian each: the gateway's numbers for the
 *                 websockets to send the frame to
 *   then          the wire frame, unchanged (not empty)
 *
 * The destinations of a member's frames change only with the line's membership, so the relay
 * encodes each destination gateway's header once ({@link encodeDeliverHeader}) and per frame
 * only copies it with the frame's sentAt ({@link stampDeliverHeader}); the frame is published
 * beside the header, never copied into it.
 */
import { EnvelopeError, expectEnvelopeType, hasEnvelopeType } from './envelope.js';

export const DELIVER_ENVELOPE = 0x02;
export const MAX_DELIVER_TARGETS = 255;
const SENT_AT_OFFSET = 1;
const COUNT_OFFSET = 9;
const CONNS_OFFSET = 10;

export interface DeliverEnvelope {
  sentAt: number;
  conns: number[];
  /** The wire frame: a view into the envelope, not a copy. */
  frame: Buffer;
}

/** Bytes of a DELIVER header with `targets` destinations. */
function deliverHeaderBytes(targets: number): number {
  return CONNS_OFFSET + 4 * targets;
}

/** The header for frames to `conns` (publish it beside the frame). @throws EnvelopeError for 0 or more than 255 destinations. */
export function encodeDeliverHeader(conns: readonly number[], sentAt = 0): Buffer {
  if (conns.length === 0 || conns.length > MAX_DELIVER_TARGETS) {
    throw new EnvelopeError(`a DELIVER envelope names 1 to ${MAX_DELIVER_TARGETS} destinations, not ${conns.length}`);
  }
  const header = Buffer.allocUnsafe(deliverHeaderBytes(conns.length));
  header[0] = DELIVER_ENVELOPE;
  header.writeDoubleBE(sentAt, SENT_AT_OFFSET);
  header[COUNT_OFFSET] = conns.length;
  for (let i = 0; i < conns.length; i++) header.writeUInt32BE(conns[i], CONNS_OFFSET + 4 * i);
  return header;
}

/** A copy of a header from {@link encodeDeliverHeader}, carrying one frame's sentAt (the bus may hold it after the call). */
export function stampDeliverHeader(header: Buffer, sentAt: number): Buffer {
  const out = Buffer.allocUnsafe(header.length);
  header.copy(out, 0);
  out.writeDoubleBE(sentAt, SENT_AT_OFFSET);
  return out;
}

/** True when the first byte says DELIVER; {@link decodeDeliverEnvelope} checks the rest. */
export function isDeliverEnvelope(msg: Uint8Array): boolean {
  return hasEnvelopeType(msg, DELIVER_ENVELOPE);
}

/** @throws EnvelopeError when `msg` is not a DELIVER envelope, names no destination, or is too short for its destinations and a frame. */
export function decodeDeliverEnvelope(msg: Buffer): DeliverEnvelope {
  expectEnvelopeType(msg, DELIVER_ENVELOPE, 'a DELIVER');
  if (msg.length <= COUNT_OFFSET) throw new EnvelopeError(`DELIVER envelope truncated: ${msg.length} bytes, its fixed header alone is ${CONNS_OFFSET}`);
  const count = msg[COUNT_OFFSET];
  if (count === 0) throw new EnvelopeError('DELIVER envelope names no destination');
  const start = deliverHeaderBytes(count);
  if (msg.length <= start) {
    throw new EnvelopeError(`DELIVER envelope truncated: ${msg.length} bytes, its ${count} destinations need a ${start}-byte header and a frame`);
  }
  const conns = new Array<number>(count);
  for (let i = 0; i < count; i++) conns[i] = msg.readUInt32BE(CONNS_OFFSET + 4 * i);
  return { sentAt: msg.readDoubleBE(SENT_AT_OFFSET), conns, frame: msg.subarray(start) };
}
