/**
 * The plaintext inside each SFrame. On the full layer: a small header and 16-bit little-endian
 * mono PCM.
 *
 *   byte 0     format version (1)
 *   byte 1     channels (1)
 *   bytes 2-5  sample rate, uint32 big-endian (receivers resample to their own rate)
 *   bytes 6-   PCM, int16 little-endian
 *
 * On the compact layer (compact-layer.ts): a format byte and one Opus packet (48 kHz mono, 10 ms;
 * the packet's own TOC byte says the rest).
 *
 *   byte 0     format (2)
 *   bytes 1-   the Opus packet
 */
export const AUDIO_FORMAT_VERSION = 1;
export const AUDIO_HEADER_BYTES = 6;
export const AUDIO_FORMAT_OPUS = 2;

/**
 * Full ("studio") rate, and the rate a `mobile=1` peer captures and plays at: it sends and receives
 * only the compact layer (Opus at 48 kHz, compact-layer.ts), about 73 kbit/s per direction and speaker.
 */
export const STUDIO_SAMPLE_RATE = 200_000;
export const MOBILE_SAMPLE_RATE = 48_000;
/** 10 ms frames: a latency of one frame is inaudible, and 100 frames/s keeps per-frame costs low. */
export const FRAME_MS = 10;

export function samplesPerFrame(sampleRate: number): number {
  return Math.round((sampleRate * FRAME_MS) / 1000);
}

export function encodeAudioFrame(sampleRate: number, pcm: Int16Array): Uint8Array {
  const out = new Uint8Array(AUDIO_HEADER_BYTES + pcm.length * 2);
  const view = new DataView(out.buffer);
  out[0] = AUDIO_FORMAT_VERSION;
  out[1] = 1;
  view.setUint32(2, sampleRate);
  for (let i = 0; i < pcm.length; i++) view.setInt16(AUDIO_HEADER_BYTES + i * 2, pcm[i], true);
  return out;
}

export interface AudioFrame {
  sampleRate: number;
  pcm: Int16Array;
}

export function decodeAudioFrame(bytes: Uint8Array): AudioFrame | undefined {
  if (bytes.length < AUDIO_HEADER_BYTES || bytes[0] !== AUDIO_FORMAT_VERSION || bytes[1] !== 1) return undefined;
  if ((bytes.length - AUDIO_HEADER_BYTES) % 2 !== 0) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const sampleRate = view.getUint32(2);
  if (sampleRate < 8000 || sampleRate > 384_000) return undefined;
  const pcm = new Int16Array((bytes.length - AUDIO_HEADER_BYTES) / 2);
  for (let i = 0; i < pcm.length; i++) pcm[i] = view.getInt16(AUDIO_HEADER_BYTES + i * 2, true);
  return { sampleRate, pcm };
}

export function encodeOpusFrame(packet: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + packet.length);
  out[0] = AUDIO_FORMAT_OPUS;
  out.set(packet, 1);
  return out;
}

/** The Opus packet of a compact frame's plaintext, or undefined when it is not one. */
export function decodeOpusFrame(bytes: Uint8Array): Uint8Array | undefined {
  if (bytes.length < 2 || bytes[0] !== AUDIO_FORMAT_OPUS) return undefined;
  return bytes.subarray(1);
}

/**
 * Audio level as in RFC 6464: 0 is 0 dBov (loudest), 127 is -127 dBov or silence. It travels in
 * clear (authenticated, not encrypted) so that a relay can pick the loudest speakers of a group line.
 */
export function audioLevel(pcm: Int16Array): number {
  if (pcm.length === 0) return 127;
  let sum = 0;
  for (let i = 0; i < pcm.length; i++) sum += pcm[i] * pcm[i];
  const rms = Math.sqrt(sum / pcm.length) / 32768;
  if (rms <= 0) return 127;
  return Math.max(0, Math.min(127, Math.round(-20 * Math.log10(rms))));
}
