/**
 * The codecs the bridge speaks with phones, best first (SDP answers pick the first the phone
 * offers): Opus (libopus through `libopus-wasm`, as the Node peer uses), then G.711 µ-law and
 * A-law (`alawmulaw`, MIT). G.722 comes between them once a maintained implementation for Node
 * exists; none was found on npm (README, "SIP bridge").
 */
import { alaw, mulaw } from 'alawmulaw';

type Libopus = typeof import('libopus-wasm', { with: { 'resolution-mode': 'import' } });

export interface PhoneCodecSpec {
  /** The rtpmap encoding name, as SDP spells it. */
  name: 'opus' | 'PCMU' | 'PCMA';
  /** The static payload type, if the codec has one. */
  staticPayload?: number;
  /** The RTP clock rate (rtpmap) and the rate of the PCM the codec takes and gives. */
  clockRate: number;
  sampleRate: number;
  /** Channels in the rtpmap (RFC 7587 says opus/48000/2 whatever is sent). */
  channels?: number;
  /** Our fmtp for it in answers. */
  fmtp?: string;
}

export const PHONE_CODECS: readonly PhoneCodecSpec[] = [
  // Mono, in-band FEC both ways: a phone's lost packet is rebuilt from the next.
  { name: 'opus', clockRate: 48_000, sampleRate: 48_000, channels: 2, fmtp: 'useinbandfec=1;stereo=0;sprop-stereo=0' },
  { name: 'PCMU', staticPayload: 0, clockRate: 8000, sampleRate: 8000 },
  { name: 'PCMA', staticPayload: 8, clockRate: 8000, sampleRate: 8000 },
];

/** Opus toward phones: a voice bitrate a desk phone decodes comfortably. */
const OPUS_PHONE_BITRATE_BPS = 32_000;

/** One call's encoder and decoder for the negotiated codec. */
export interface PhoneCodec {
  readonly spec: PhoneCodecSpec;
  /** PCM at spec.sampleRate, one packet's worth (ptime), to an RTP payload. */
  encode(pcm: Int16Array): Uint8Array;
  /** An RTP payload to PCM at spec.sampleRate; throws on a payload the codec refuses. */
  decode(payload: Uint8Array): Int16Array;
  close(): void;
}

let libopus: Promise<Libopus> | undefined;

export async function createPhoneCodec(spec: PhoneCodecSpec, ptimeMs: number): Promise<PhoneCodec> {
  if (spec.name === 'PCMU') return { spec, encode: (pcm) => mulaw.encode(pcm), decode: (p) => mulaw.decode(p), close: () => undefined };
  if (spec.name === 'PCMA') return { spec, encode: (pcm) => alaw.encode(pcm), decode: (p) => alaw.decode(p), close: () => undefined };
  // A real dynamic import: the package is an ES module, this one is compiled to CommonJS.
  const lib = await (libopus ??= import('libopus-wasm'));
  const frameSize = (spec.sampleRate * ptimeMs) / 1000;
  // Opus is negotiated at 48 kHz only (PHONE_CODECS), one of libopus's rates.
  const sampleRate = 48_000 as const;
  const [encoder, decoder] = await Promise.all([
    lib.createEncoder({ sampleRate, channels: 1, application: lib.Application.Voip, bitrate: OPUS_PHONE_BITRATE_BPS, fec: true, packetLossPercent: 5, frameSize }),
    lib.createDecoder({ sampleRate, channels: 1 }),
  ]);
  return {
    spec,
    encode: (pcm) => encoder.encode(pcm).slice(),
    decode: (payload) => decoder.decode(payload).slice(),
    close() {
      encoder.free();
      decoder.free();
    },
  };
}
