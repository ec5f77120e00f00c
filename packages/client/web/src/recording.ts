/**
 * Records the call in the browser, decrypted, with the call core's recorder: one track per sender
 * heard (at the sender's rate), one of this page's microphone, and a mix of them all aligned by
 * time. It runs in the call worker, where the frames are; the WAVs are made in memory there and
 * offered by the page as downloads: they never leave the browser.
 */
import { CallRecorder, LOCAL_TRACK } from '../../src/recorder.js';
import { encodeWav } from '../../src/wav.js';
import type { RecordingFile } from './media-messages.js';

export class CallRecording {
  /** Add it to the call core as a sink: every frame heard goes in. */
  readonly recorder = new CallRecorder();
  private localCtr = 0n;
  private readonly stamp = new Date().toISOString().replace(/[:.]/g, '-');

  constructor(readonly sampleRate: number) {}

  /** One frame of this page's own microphone, as sent. */
  addLocal(pcm: Int16Array): void {
    this.recorder.add(LOCAL_TRACK, this.localCtr++, this.sampleRate, pcm, performance.now());
  }

  /** The mix first, then this page's track, then each sender's. */
  async files(): Promise<RecordingFile[]> {
    const wav = (pcm: { sampleRate: number; samples: Int16Array }) => new Blob([encodeWav(pcm)], { type: 'audio/wav' });
    const mix = await this.recorder.mix(this.sampleRate);
    const files: RecordingFile[] = [{ label: 'Mix of everyone', name: `studioline-${this.stamp}.mix.wav`, blob: wav(mix) }];
    for (const track of this.recorder.tracks()) {
      const local = track.sender === LOCAL_TRACK;
      const rate = track.sampleRate === this.sampleRate ? '' : ` (${track.sampleRate / 1000} kHz)`;
      files.push({
        label: local ? 'You' : `Peer ${track.sender.slice(0, 6)}${rate}`,
        name: `studioline-${this.stamp}.${track.sender}.wav`,
        blob: wav(track),
      });
    }
    return files;
  }
}
