/**
 * Recording per sender: frames of several senders arriving interleaved make one clean track each,
 * at each sender's rate; the mix holds every sender, placed by counter and arrival time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FRAME_MS } from '@studioline/protocol';
import { toneSource } from '../src/audio-source.js';
import { CallRecorder } from '../src/recorder.js';
import { toneShare } from '../src/signal.js';

const SENDERS = [
  { sender: 'a1', hz: 440, rate: 200_000, startMs: 0 },
  { sender: 'b2', hz: 1000, rate: 200_000, startMs: 250 },
  { sender: 'c3', hz: 2500, rate: 48_000, startMs: 500 },
];

/** Two seconds of each sender, interleaved as they would arrive, each with a little network jitter. */
function record(seconds = 2): CallRecorder {
  const recorder = new CallRecorder();
  const frames = (seconds * 1000) / FRAME_MS;
  for (let i = 0; i < frames; i++) {
    for (const s of SENDERS) {
      const source = toneSource(s.hz, s.rate, 0.2);
      // Counters start high (a session in progress); arrival = capture time + 3..7 ms of delay.
      const ctr = 1000 + i;
      recorder.add(s.sender, BigInt(ctr), s.rate, source.frame(i), 10_000 + s.startMs + i * FRAME_MS + 3 + ((i * 7) % 5));
    }
  }
  return recorder;
}

describe('call recorder', () => {
  it('keeps one track per sender, at its own rate, holding only that sender’s tone', () => {
    const tracks = record().tracks();
    assert.deepEqual(tracks.map((t) => [t.sender, t.sampleRate, t.frames, t.missing]), SENDERS.map((s) => [s.sender, s.rate, 200, 0]));
    for (const [i, t] of tracks.entries()) {
      assert.equal(t.samples.length, 200 * (SENDERS[i].rate / 100));
      assert.ok(toneShare(t.samples, t.sampleRate, SENDERS[i].hz) > 0.99, `${t.sender} holds its tone`);
      for (const other of SENDERS.filter((_, j) => j !== i)) assert.ok(toneShare(t.samples, t.sampleRate, other.hz) < 1e-4, `${t.sender} holds no ${other.hz} Hz`);
    }
    // Anchored by the least-delayed arrival: 3 ms after capture, on the receiver's clock.
    assert.deepEqual(tracks.map((t) => t.startMs), SENDERS.map((s) => 10_000 + s.startMs + 3));
  });

  it('mixes every sender, each placed at its own start time (the 48 kHz one resampled)', async () => {
    const mix = await record().mix();
    assert.equal(mix.sampleRate, 200_000);
    // The last sender starts 500 ms after the first and lasts 2 s.
    assert.equal(mix.samples.length, 2.5 * 200_000);
    const shares = SENDERS.map((s) => toneShare(mix.samples, mix.sampleRate, s.hz));
    for (const [i, share] of shares.entries()) assert.ok(share > 0.2, `the mix holds ${SENDERS[i].hz} Hz: ${shares.map((x) => x.toFixed(3))}`);
    // Before the second sender started, only the first is heard.
    const head = mix.samples.subarray(0, 0.25 * 200_000 - 200);
    assert.ok(toneShare(head, mix.sampleRate, 440, 20) > 0.99);
  });

  it('fills a missing frame with silence and counts it; one sender’s mix is its track exactly', async () => {
    const recorder = new CallRecorder();
    const source = toneSource(1000, 200_000);
    for (const i of [0, 1, 3, 4]) recorder.add('a1', BigInt(i), 200_000, source.frame(i), 100 + i * FRAME_MS);
    const [track] = recorder.tracks();
    assert.deepEqual([track.frames, track.missing, track.samples.length], [4, 1, 5 * 2000]);
    assert.ok(track.samples.subarray(2 * 2000, 3 * 2000).every((v) => v === 0));
    assert.deepEqual(track.samples.subarray(3 * 2000), new Int16Array([...source.frame(3), ...source.frame(4)]));
    assert.deepEqual((await recorder.mix()).samples, track.samples);
  });

  it('keeps no more than its size limit, and counts the frames it could not keep', () => {
    const recorder = new CallRecorder(10 * 4000);
    const source = toneSource(1000, 200_000);
    for (let i = 0; i < 15; i++) recorder.add('a1', BigInt(i), 200_000, source.frame(i), i * FRAME_MS);
    const [track] = recorder.tracks();
    assert.deepEqual([track.frames, recorder.overLimit], [10, 5]);
  });
});
