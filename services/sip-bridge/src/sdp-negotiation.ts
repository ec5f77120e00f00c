/**
 * SDP offer/answer (RFC 3264) for one audio stream: parse the phone's offer (sdp-transform, MIT),
 * pick the best codec it offers in our order (phone-codecs.ts), and write the answer. Anything we
 * cannot serve is a {@link NegotiationError} whose text goes into a 488's Warning header.
 */
import { SdpMedia, parse, write } from 'sdp-transform';
import { PHONE_CODECS, PhoneCodecSpec } from './phone-codecs.js';

export class NegotiationError extends Error {
  readonly code = 'not_acceptable';
}

/** Packet duration when the offer does not say (RFC 3551's default for these codecs). */
export const DEFAULT_PTIME_MS = 20;
/** Packet durations we send; a phone asking another gets the nearest. */
const PTIMES_MS = [10, 20, 30, 40, 60];

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** Our side of a direction the phone offered (RFC 3264 §6.1): a phone that only sends is only received. */
export const ANSWER_DIRECTION: Record<Direction, Direction> = { sendrecv: 'sendrecv', sendonly: 'recvonly', recvonly: 'sendonly', inactive: 'inactive' };

export interface Negotiated {
  /** What the phone offered: `sendonly` or `inactive` is a phone putting the call on hold. */
  direction: Direction;
  codec: PhoneCodecSpec;
  payloadType: number;
  /** Where the phone wants RTP. */
  remote: { address: string; port: number };
  ptimeMs: number;
  /** The phone's RFC 4733 telephone-event payload type at the codec's clock, when it offered one. */
  dtmfPayloadType?: number;
}

function findCodec(media: SdpMedia): { codec: PhoneCodecSpec; payloadType: number } | undefined {
  // sdp-transform gives a lone payload type as a number, several as a string.
  const offered = String(media.payloads ?? '').split(/\s+/).filter(Boolean).map(Number);
  for (const codec of PHONE_CODECS) {
    for (const pt of offered) {
      const rtp = media.rtp.find((r) => r.payload === pt);
      const matches = rtp ? rtp.codec.toLowerCase() === codec.name.toLowerCase() && (rtp.rate ?? codec.clockRate) === codec.clockRate : pt === codec.staticPayload;
      if (matches) return { codec, payloadType: pt };
    }
  }
  return undefined;
}

export function negotiate(offer: string | undefined): Negotiated {
  if (!offer || !offer.trim()) throw new NegotiationError('no SDP offer: this bridge answers only INVITEs that carry an offer');
  let session;
  try {
    session = parse(offer);
  } catch {
    throw new NegotiationError('the SDP offer does not parse');
  }
  const audio = (session.media ?? []).find((m) => m.type === 'audio' && m.port > 0);
  if (!audio) throw new NegotiationError('the SDP offer has no audio stream');
  if (audio.protocol !== 'RTP/AVP') throw new NegotiationError(`audio over ${audio.protocol} is not supported yet (RTP/AVP only; no SRTP)`);
  const address = audio.connection?.ip ?? session.connection?.ip;
  if (!address) throw new NegotiationError('the SDP offer has no connection address');
  // c=0.0.0.0 is the old way (RFC 2543) of putting a call on hold.
  const direction: Direction = address === '0.0.0.0' ? 'inactive' : (audio.direction ?? session.direction ?? 'sendrecv');
  const found = findCodec(audio);
  if (!found) throw new NegotiationError(`no common codec: the bridge speaks ${PHONE_CODECS.map((c) => c.name).join(', ')}`);
  const asked = audio.ptime ?? DEFAULT_PTIME_MS;
  const ptimeMs = PTIMES_MS.reduce((best, p) => (Math.abs(p - asked) < Math.abs(best - asked) ? p : best));
  const dtmf = audio.rtp.find((r) => r.codec.toLowerCase() === 'telephone-event' && r.rate === found.codec.clockRate);
  return { ...found, direction, remote: { address, port: audio.port }, ptimeMs, ...(dtmf ? { dtmfPayloadType: dtmf.payload } : {}) };
}

/** Our answer: the one codec chosen, at our RTP address. */
export function writeAnswer(n: Negotiated, local: { address: string; port: number }, sessionId: number): string {
  const { codec, payloadType, dtmfPayloadType: dtmf } = n;
  const ipVer = local.address.includes(':') ? 6 : 4;
  return write({
    version: 0,
    origin: { username: '-', sessionId, sessionVersion: 1, netType: 'IN', ipVer, address: local.address },
    name: 'studioline',
    connection: { version: ipVer, ip: local.address },
    timing: { start: 0, stop: 0 },
    media: [
      {
        type: 'audio',
        port: local.port,
        protocol: 'RTP/AVP',
        payloads: [payloadType, ...(dtmf === undefined ? [] : [dtmf])].join(' '),
        rtp: [
          { payload: payloadType, codec: codec.name, rate: codec.clockRate, ...(codec.channels ? { encoding: codec.channels } : {}) },
          ...(dtmf === undefined ? [] : [{ payload: dtmf, codec: 'telephone-event', rate: codec.clockRate }]),
        ],
        fmtp: [...(codec.fmtp ? [{ payload: payloadType, config: codec.fmtp }] : []), ...(dtmf === undefined ? [] : [{ payload: dtmf, config: '0-15' }])],
        ptime: n.ptimeMs,
        direction: ANSWER_DIRECTION[n.direction],
      },
    ],
  });
}
