import { Pcm } from './wav.js';

interface Stream {
  sampleRate: number;
  frames: Map<bigint, Int16Array>;
  first: bigint;
  last: bigint;
}

/**
 * Collects decrypted frames by sender and counter, so that late or missing frames land in their
 * place (missing ones as silence) and losses can be counted.
 */
export class CallRecorder {
  private readonly streams = new Map<bigint, Stream>();

  add(senderId: bigint, ctr: bigint, sampleRate: number, pcm: Int16Array): void {
    let s = this.streams.get(senderId);
    if (!s) {
      s = { sampleRate, frames: new Map(), first: ctr, last: ctr };
      this.streams.set(senderId, s);
    }
    if (sampleRate !== s.sampleRate) return;
    s.frames.set(ctr, pcm);
    if (ctr < s.first) s.first = ctr;
    if (ctr > s.last) s.last = ctr;
  }

  /** Frames missing between the first and last frame seen of each sender. */
  get lost(): number {
    let lost = 0;
    for (const s of this.streams.values()) lost += Number(s.last - s.first + 1n) - s.frames.size;
    return lost;
  }

  get senders(): number {
    return this.streams.size;
  }

  /** Everything heard, sender after sender (in the order they were first heard), at the first sender's rate. */
  toPcm(): Pcm {
    const streams = [...this.streams.values()];
    const sampleRate = streams[0]?.sampleRate ?? 48_000;
    const parts: Int16Array[] = [];
    for (const s of streams) {
      if (s.sampleRate !== sampleRate) continue;
      const frameLength = s.frames.values().next().value?.length ?? 0;
      for (let c = s.first; c <= s.last; c++) parts.push(s.frames.get(c) ?? new Int16Array(frameLength));
    }
    const samples = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      samples.set(p, offset);
      offset += p.length;
    }
    return { sampleRate, samples };
  }
}
