/**
 * Envelopes between gateways and relays over the bus (Redis pub/sub or in memory).
 *
 * Audio is binary and allocation-lean; control (joins, leaves, membership events) is rare and
 * travels as JSON, told apart by the first byte ('{' is 0x7b, audio types are below 0x10).
 *
 *   AUDIO   gateway -> relay    [0x01][member u32][sentAt f64][wire frame]
 *   DELIVER relay -> gateway    [0x02][sentAt f64][n u8][destination conn u32 x n][wire frame]
 *
 * `sentAt` is when the frame reached the first gateway (ms since the epoch, with microseconds),
 * carried through so the delivering gateway can measure the server-added latency.
 * `member` is the relay's number for one peer on one line (returned when it joined), `conn` a
 * gateway's number for one websocket. Both are local to one process lifetime; process ids are
 * random, so a restarted relay or gateway never receives envelopes meant for its predecessor.
 */
export const ENVELOPE_AUDIO = 0x01;
export const ENVELOPE_DELIVER = 0x02;
export const AUDIO_ENVELOPE_HEADER_BYTES = 13;
/** Where sentAt sits in AUDIO and in DELIVER. */
export const AUDIO_SENT_AT_OFFSET = 5;
export const DELIVER_SENT_AT_OFFSET = 1;
/** At most this many destinations per DELIVER (lines hold far fewer peers). */
export const MAX_DELIVER_TARGETS = 255;

export function writeAudioHeader(out: Buffer, member: number, sentAt: number): void {
  out[0] = ENVELOPE_AUDIO;
  writeU32(out, 1, member);
  out.writeDoubleBE(sentAt, AUDIO_SENT_AT_OFFSET);
}

/** DELIVER: type, sentAt, count, then the destination connections. */
export function deliverHeaderBytes(targets: number): number {
  return 10 + 4 * targets;
}

/** Offset of the destination count in DELIVER. */
export const DELIVER_COUNT_OFFSET = 9;

/** Wall-clock time in ms with sub-ms precision, comparable between processes on one host or NTP-synced hosts. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

export function writeU32(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 24;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
}

export function readU32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] << 24) >>> 0) + (bytes[offset + 1] << 16) + (bytes[offset + 2] << 8) + bytes[offset + 3];
}

/** Control envelopes, JSON. `gw` is the gateway id, `conn` its connection number. */
export type ControlEnvelope =
  | { t: 'join'; gw: string; conn: number; line: string; sender: string; capacity: number; rejoin: boolean }
  | { t: 'leave'; gw: string; member: number }
  | { t: 'joined'; relay: string; conn: number; member: number; peers: string[] }
  | { t: 'refused'; conn: number; code: 'line_full' | 'bad_request' }
  | { t: 'peer'; event: 'joined' | 'left'; conns: number[]; sender: string };

export function isControlEnvelope(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === 0x7b;
}
