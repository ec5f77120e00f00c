/**
 * Recording per sender on a group line (issue 10, item 6): three peers send distinct tones (two at
 * the mobile rate, so the listener stays within its 7 Mbit/s budget) while a fourth records. It keeps one track per sender, each holding only that
 * sender's tone and every frame that sender sent, and a mix, aligned by time, holding all three.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MOBILE_SAMPLE_RATE, STUDIO_SAMPLE_RATE } from '@studioline/protocol';
import { NodePeer, PeerSummary, dominantFrequency, toneShare, toneSource } from '@studioline/client';
import { Embedded, startEmbedded } from './helpers/embedded.js';
import { newLink } from './helpers/peers.js';

const SENDERS = [
  { hz: 440, rate: STUDIO_SAMPLE_RATE },
  { hz: 1000, rate: MOBILE_SAMPLE_RATE },
  { hz: 2500, rate: MOBILE_SAMPLE_RATE },
];

describe('recording a group line', () => {
  let server: Embedded;

  before(async () => {
    // Four on the line, and the relay forwards all three speakers to the listener.
    server = await startEmbedded({ lineCapacity: 4 }, { maxSpeakers: 3 });
  });
  after(() => server?.stop());

  it('one track per sender, each only its own tone and every frame it sent; the mix holds all three', async (t) => {
    const link = newLink(server.url, server.apiKey);
    // The listener sends silence (level 127: never among the loudest) and records; it stays twice
    // as long as the senders send, so their last frames reach it even on a busy machine (it once
    // left 4 s after starting, as two senders that had joined late were still sending).
    const listener = new NodePeer({ link, source: toneSource(1000, MOBILE_SAMPLE_RATE, 0), seconds: 6, record: true, peerTimeoutMs: 20_000 });
    const listening = listener.run();
    // Quiet enough that three tones summed never clip.
    const senders = SENDERS.map((s) => new NodePeer({ link, source: toneSource(s.hz, s.rate, 0.25), seconds: 3, peerTimeoutMs: 20_000 }).run());
    const [heard, ...sent]: PeerSummary[] = await Promise.all([listening, ...senders]);
    const tracks = heard.tracks ?? [];
    t.diagnostic(`tracks: ${tracks.map((tr) => `${tr.sender} ${tr.sampleRate} Hz ${tr.frames} frames, ${tr.missing} missing, from ${tr.startMs.toFixed(0)} ms`).join('; ')}`);
    assert.equal(tracks.length, 3, 'one track per sender');
    assert.equal(heard.received, sent.reduce((n, s) => n + s.sent, 0), 'the listener heard every frame sent');

    for (const track of tracks) {
      const hz = dominantFrequency(track.samples, track.sampleRate);
      const i = SENDERS.findIndex((s) => Math.abs(hz - s.hz) < s.hz * 0.005);
      assert.ok(i >= 0, `a track’s tone is ${hz} Hz`);
      assert.equal(track.sampleRate, SENDERS[i].rate, 'kept at the sender’s own rate');
      assert.equal(track.frames, sent[i].sent, `every frame the ${SENDERS[i].hz} Hz sender sent`);
      // Missing only what its sender never sent (a sender behind real time skips frames, and its counters skip them too).
      assert.ok(track.missing <= sent[i].skippedLate, `${track.missing} frames missing, ${sent[i].skippedLate} skipped by the sender`);
      assert.ok(toneShare(track.samples, track.sampleRate, SENDERS[i].hz) > 0.99, `the ${SENDERS[i].hz} Hz track is that tone`);
      for (const other of SENDERS.filter((_, j) => j !== i)) {
        assert.ok(toneShare(track.samples, track.sampleRate, other.hz) < 1e-4, `no ${other.hz} Hz in the ${SENDERS[i].hz} Hz track`);
      }
    }
    assert.deepEqual(new Set(tracks.map((tr) => Math.round(dominantFrequency(tr.samples, tr.sampleRate) / 10) * 10)), new Set(SENDERS.map((s) => s.hz)));

    const mix = heard.recording!;
    assert.equal(mix.sampleRate, STUDIO_SAMPLE_RATE, 'mixed at the highest rate');
    const shares = SENDERS.map((s) => toneShare(mix.samples, mix.sampleRate, s.hz));
    t.diagnostic(`mix: ${(mix.samples.length / mix.sampleRate).toFixed(2)} s; tone shares ${shares.map((x) => x.toFixed(3)).join(', ')}`);
    for (const [i, share] of shares.entries()) assert.ok(share > 0.15, `the mix holds ${SENDERS[i].hz} Hz (share ${share.toFixed(3)})`);
    // Aligned by time: the senders overlapped, so the mix is not the tracks end to end.
    const longest = Math.max(...tracks.map((tr) => tr.samples.length / tr.sampleRate));
    const total = tracks.reduce((n, tr) => n + tr.samples.length / tr.sampleRate, 0);
    assert.ok(mix.samples.length / mix.sampleRate < (longest + total) / 2, 'the tracks overlap in the mix');
  });
});
