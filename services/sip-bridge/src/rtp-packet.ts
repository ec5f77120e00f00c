/**
 * RTP packets (RFC 3550 §5.1): the 12-byte fixed header, CSRCs, an optional header extension and
 * padding. Parsing returns undefined for anything malformed, never throws: it reads from the network.
 */
export const RTP_VERSION = 2;
export const RTP_HEADER_BYTES = 12;

export interface RtpPacket {
  payloadType: number;
  marker: boolean;
  sequence: number;
  timestamp: number;
  ssrc: number;
  payload: Uint8Array;
}

export function parseRtp(data: Uint8Array): RtpPacket | undefined {
  if (data.length < RTP_HEADER_BYTES || data[0] >> 6 !== RTP_VERSION) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const padding = (data[0] & 0x20) !== 0;
  const extension = (data[0] & 0x10) !== 0;
  const csrcs = data[0] & 0x0f;
  let offset = RTP_HEADER_BYTES + csrcs * 4;
  if (extension) {
    if (data.length < offset + 4) return undefined;
    offset += 4 + view.getUint16(offset + 2) * 4;
  }
  let end = data.length;
  if (padding) {
    if (end === 0) return undefined;
    end -= data[end - 1];
  }
  if (offset > end) return undefined;
  return {
    payloadType: data[1] & 0x7f,
    marker: (data[1] & 0x80) !== 0,
    sequence: view.getUint16(2),
    timestamp: view.getUint32(4),
    ssrc: view.getUint32(8),
    payload: data.subarray(offset, end),
  };
}

export function writeRtp(p: Omit<RtpPacket, 'payload'>, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(RTP_HEADER_BYTES + payload.length);
  out[0] = RTP_VERSION << 6;
  out[1] = (p.marker ? 0x80 : 0) | (p.payloadType & 0x7f);
  out.writeUInt16BE(p.sequence & 0xffff, 2);
  out.writeUInt32BE(p.timestamp >>> 0, 4);
  out.writeUInt32BE(p.ssrc >>> 0, 8);
  out.set(payload, RTP_HEADER_BYTES);
  return out;
}
