/**
 * The capture worklet's frame assembly, fed render quanta the way browsers hand them over: in
 * bursts of a device callback (Chromium's fake device: 10 ms, 15 or 16 quanta at 200 kHz at once),
 * or one quantum at a time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameAssembler } from '../src/frame-assembler.js';

const RATE = 200_000;
const QUANTUM = 128;
const FRAME = RATE / 100;

/** Sample i carries i modulo this (as 2i - 1 once converted to 16 bits), so a frame tells which samples it holds. */
const MARK = 16_384;
const mark = (i: number) => (i % MARK) / MARK;
const unmark = (v: number) => Math.round(v / 2);

/**
 * Runs `seconds` of marked samples through an assembler, capture starting `offset` samples into the
 * device's first callback (so the first burst is short); each burst ends where the device's clock
 * reaches the end of a callback, rounded up to a quantum. Returns each frame's first and last sample and the burst it
 * was sent in, and where each burst starts.
 */
function run(callbackMs: number, offset: number, seconds = 2) {
  const frames: { sentIn: number; first: number; last: number; fillWaitMs: number }[] = [];
  const burstStarts: number[] = [];
  let burst = 0;
  let rendered = 0;
  const assembler = new FrameAssembler(FRAME, (pcm, fillWaitMs) => {
    // The frame ends in the quantum being pushed: [rendered, rendered + QUANTUM).
    const last = rendered + ((unmark(pcm[pcm.length - 1]) - rendered) % MARK + MARK) % MARK;
    frames.push({ sentIn: burst, first: last - FRAME + 1, last, fillWaitMs });
    assert.equal(unmark(pcm[0]), (last - FRAME + 1) % MARK, 'a frame holds consecutive samples');
  });
  const perCallback = (RATE * callbackMs) / 1000;
  for (; rendered < RATE * seconds; burst++) {
    burstStarts.push(rendered);
    const end = Math.ceil(((burst + 1) * perCallback - offset) / QUANTUM) * QUANTUM;
    // Quanta of one burst come back to back (0.05 ms apart); bursts callbackMs apart.
    for (let call = 0; rendered < end; call++, rendered += QUANTUM) {
      const q = new Float32Array(QUANTUM);
      for (let i = 0; i < QUANTUM; i++) q[i] = mark(rendered + i);
      assembler.push(q, burst * callbackMs + call * 0.05);
    }
  }
  return { frames, burstStarts, figures: assembler.figures };
}

describe('frame assembly in the capture worklet', () => {
  for (const offset of [0, 300, 1000, 1900]) {
    it(`with 10 ms callbacks (phase ${offset} samples), every frame after the first burst is sent in the burst that captured it`, () => {
      const { frames, burstStarts, figures } = run(10, offset);
      const later = frames.filter((f) => f.sentIn >= 2);
      assert.ok(later.length > 150);
      for (const f of later) {
        // At most the frame's first quantum or two was captured in the burst before.
        const fromEarlier = burstStarts[f.sentIn] - f.first;
        assert.ok(fromEarlier <= 2 * QUANTUM, `frame ${f.first}-${f.last}, sent in burst ${f.sentIn}: ${fromEarlier} of its samples waited a burst`);
        // What it reports its samples waited: about a quantum's share of a 10 ms burst, at most.
        assert.ok(f.fillWaitMs >= 0 && f.fillWaitMs < 1.5, `frame ${f.first}-${f.last} reports ${f.fillWaitMs.toFixed(2)} ms`);
      }
      // Lined up once at most, dropping less than a frame; the audio is continuous from there on.
      assert.ok(figures.realignments <= 1, JSON.stringify(figures));
      assert.ok(figures.droppedSamples < FRAME);
      for (let i = 1; i < later.length; i++) assert.equal(later[i].first, later[i - 1].last + 1, 'no sample lost or repeated');
    });
  }

  it('with one quantum per callback (no bursts), frames are plain consecutive 10 ms blocks', () => {
    const { frames, figures } = run(QUANTUM / (RATE / 1000), 700);
    assert.equal(figures.realignments, 0);
    assert.equal(frames[0].first, 0);
    for (let i = 1; i < frames.length; i++) assert.equal(frames[i].first, frames[i - 1].last + 1);
    assert.ok(frames.every((f) => f.last - f.first + 1 === FRAME));
    // Samples handed over one quantum at a time wait about half a frame on average.
    for (const f of frames) assert.ok(Math.abs(f.fillWaitMs - 5) < 0.5, `${f.fillWaitMs.toFixed(3)} ms`);
  });
});
