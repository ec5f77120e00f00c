/**
 * 16-bit PCM WAV files (RIFF/WAVE, format 1), mono out; multi-channel input keeps the channel asked
 * for. Plain bytes and DataView, so the page and the Node peer write the same files.
 */

export class WavError extends Error {
  readonly code = 'bad_wav';
}

export interface Pcm {
  sampleRate: number;
  samples: Int16Array;
}

const HEADER_BYTES = 44;

function ascii(view: DataView, offset: number, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += String.fromCharCode(view.getUint8(offset + i));
  return s;
}

export function encodeWav({ sampleRate, samples }: Pcm): Uint8Array<ArrayBuffer> {
  const data = samples.length * 2;
  const out = new Uint8Array(HEADER_BYTES + data);
  const view = new DataView(out.buffer);
  const text = (offset: number, s: string) => [...s].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, 'RIFF');
  view.setUint32(4, 36 + data, true);
  text(8, 'WAVE');
  text(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, 'data');
  view.setUint32(40, data, true);
  for (let i = 0; i < samples.length; i++) view.setInt16(HEADER_BYTES + i * 2, samples[i], true);
  return out;
}

/** Decodes one channel (default the first) of a 16-bit PCM WAV. */
export function decodeWav(file: Uint8Array, channel = 0): Pcm {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (file.length < 12 || ascii(view, 0, 4) !== 'RIFF' || ascii(view, 8, 4) !== 'WAVE') {
    throw new WavError('not a WAV file (no RIFF/WAVE header)');
  }
  let offset = 12;
  let format: { channels: number; sampleRate: number; bits: number; tag: number } | undefined;
  while (offset + 8 <= file.length) {
    const id = ascii(view, offset, 4);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (body + 16 > file.length) throw new WavError('WAV fmt chunk is cut short');
      format = { tag: view.getUint16(body, true), channels: view.getUint16(body + 2, true), sampleRate: view.getUint32(body + 4, true), bits: view.getUint16(body + 14, true) };
    } else if (id === 'data') {
      if (!format) throw new WavError('WAV data chunk before its fmt chunk');
      if ((format.tag !== 1 && format.tag !== 0xfffe) || format.bits !== 16) throw new WavError(`only 16-bit PCM WAV is supported (format ${format.tag}, ${format.bits} bits)`);
      if (channel >= format.channels) throw new WavError(`the WAV has ${format.channels} channel(s); channel ${channel} asked`);
      const frames = Math.floor(Math.min(size, file.length - body) / (2 * format.channels));
      const samples = new Int16Array(frames);
      for (let i = 0; i < frames; i++) samples[i] = view.getInt16(body + (i * format.channels + channel) * 2, true);
      return { sampleRate: format.sampleRate, samples };
    }
    offset = body + size + (size & 1);
  }
  throw new WavError('WAV file has no data chunk');
}
