/**
 * Records the call in the browser, both directions, decrypted: left channel what this page sent,
 * right channel what it heard. The WAV is made in memory and downloaded; it never leaves the browser.
 */
export class CallRecording {
  private readonly local: Int16Array[] = [];
  private readonly remote: Float32Array[] = [];
  private localSamples = 0;
  private remoteSamples = 0;

  constructor(readonly sampleRate: number) {}

  addLocal(pcm: Int16Array): void {
    this.local.push(pcm.slice());
    this.localSamples += pcm.length;
  }

  addRemote(samples: Float32Array): void {
    this.remote.push(samples.slice());
    this.remoteSamples += samples.length;
  }

  get seconds(): number {
    return Math.max(this.localSamples, this.remoteSamples) / this.sampleRate;
  }

  toWav(): Blob {
    const frames = Math.max(this.localSamples, this.remoteSamples);
    const data = new DataView(new ArrayBuffer(44 + frames * 4));
    const text = (offset: number, s: string) => [...s].forEach((c, i) => data.setUint8(offset + i, c.charCodeAt(0)));
    text(0, 'RIFF');
    data.setUint32(4, 36 + frames * 4, true);
    text(8, 'WAVE');
    text(12, 'fmt ');
    data.setUint32(16, 16, true);
    data.setUint16(20, 1, true);
    data.setUint16(22, 2, true);
    data.setUint32(24, this.sampleRate, true);
    data.setUint32(28, this.sampleRate * 4, true);
    data.setUint16(32, 4, true);
    data.setUint16(34, 16, true);
    text(36, 'data');
    data.setUint32(40, frames * 4, true);
    let i = 0;
    for (const chunk of this.local) for (const s of chunk) data.setInt16(44 + 4 * i++, s, true);
    i = 0;
    for (const chunk of this.remote) for (const s of chunk) data.setInt16(46 + 4 * i++, Math.max(-32768, Math.min(32767, Math.round(s * 32768))), true);
    return new Blob([data.buffer], { type: 'audio/wav' });
  }
}
