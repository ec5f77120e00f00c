/** 16-bit PCM WAV files (RIFF/WAVE, format 1), mono out; multi-channel input keeps the first channel. */

export class WavError extends Error {
  readonly code = 'bad_wav';
}

export interface Pcm {
  sampleRate: number;
  samples: Int16Array;
}

export function encodeWav({ sampleRate, samples }: Pcm): Buffer {
  const data = samples.length * 2;
  const out = Buffer.alloc(44 + data);
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(36 + data, 4);
  out.write('WAVE', 8, 'ascii');
  out.write('fmt ', 12, 'ascii');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(1, 20); // PCM
  out.writeUInt16LE(1, 22); // mono
  out.writeUInt32LE(sampleRate, 24);
  out.writeUInt32LE(sampleRate * 2, 28);
  out.writeUInt16LE(2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(data, 40);
  for (let i = 0; i < samples.length; i++) out.writeInt16LE(samples[i], 44 + i * 2);
  return out;
}

/** Decodes one channel (default the first) of a 16-bit PCM WAV. */
export function decodeWav(file: Buffer, channel = 0): Pcm {
  if (file.length < 12 || file.toString('ascii', 0, 4) !== 'RIFF' || file.toString('ascii', 8, 12) !== 'WAVE') {
    throw new WavError('not a WAV file (no RIFF/WAVE header)');
  }
  let offset = 12;
  let format: { channels: number; sampleRate: number; bits: number; tag: number } | undefined;
  while (offset + 8 <= file.length) {
    const id = file.toString('ascii', offset, offset + 4);
    const size = file.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      format = { tag: file.readUInt16LE(body), channels: file.readUInt16LE(body + 2), sampleRate: file.readUInt32LE(body + 4), bits: file.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      if (!format) throw new WavError('WAV data chunk before its fmt chunk');
      if ((format.tag !== 1 && format.tag !== 0xfffe) || format.bits !== 16) throw new WavError(`only 16-bit PCM WAV is supported (format ${format.tag}, ${format.bits} bits)`);
      if (channel >= format.channels) throw new WavError(`the WAV has ${format.channels} channel(s); channel ${channel} asked`);
      const frames = Math.floor(Math.min(size, file.length - body) / (2 * format.channels));
      const samples = new Int16Array(frames);
      for (let i = 0; i < frames; i++) samples[i] = file.readInt16LE(body + (i * format.channels + channel) * 2);
      return { sampleRate: format.sampleRate, samples };
    }
    offset = body + size + (size & 1);
  }
  throw new WavError('WAV file has no data chunk');
}
