import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FRAME_MS } from '@studioline/protocol';
import { SEND_MAX_LATE_MS, SendPacer } from '../src/index.js';

/** Runs a pacer on a simulated clock: a send takes `sendMs`; `stalls` freeze the sender at given times. */
function simulate(total: number, stalls: { atMs: number; forMs: number }[] = [], sendMs = 0.05) {
  let now = 1000;
  const pacer = new SendPacer(total, () => now);
  const sent: { index: number; lateMs: number }[] = [];
  const pending = [...stalls];
  while (!pacer.done) {
    if (pending.length && now - 1000 >= pending[0].atMs) now += (pending.shift() as { forMs: number }).forMs;
    const index = pacer.next();
    if (index === undefined) now += pacer.waitMs();
    else {
      sent.push({ index, lateMs: now - 1000 - index * FRAME_MS });
      now += sendMs;
    }
  }
  return { sent, skipped: pacer.skipped };
}

describe('SendPacer (simulated time)', () => {
  it('sends every frame on time when the sender keeps up', () => {
    const { sent, skipped } = simulate(1000);
    assert.equal(skipped, 0);
    assert.deepEqual(sent.map((s) => s.index), [...Array(1000).keys()]);
    assert.ok(Math.max(...sent.map((s) => s.lateMs)) < 1);
  });

  it('catches up after a short stall with a burst, losing nothing', () => {
    const { sent, skipped } = simulate(500, [{ atMs: 1000, forMs: 150 }]);
    assert.equal(skipped, 0);
    assert.equal(sent.length, 500);
  });

  it('skips and counts the frames more than the bound late after a long stall, and sends no flood', () => {
    const { sent, skipped } = simulate(500, [{ atMs: 1000, forMs: 700 }]);
    // 700 ms behind: the frames due more than 200 ms ago are skipped, the rest sent.
    assert.ok(skipped >= (700 - SEND_MAX_LATE_MS) / FRAME_MS - 1 && skipped <= (700 - SEND_MAX_LATE_MS) / FRAME_MS + 1, `skipped ${skipped}`);
    assert.equal(sent.length + skipped, 500);
    assert.ok(Math.max(...sent.map((s) => s.lateMs)) <= SEND_MAX_LATE_MS, 'no frame goes out more than the bound late');
    // The catch-up burst holds at most the bound's worth of frames.
    const burst = sent.filter((s) => s.lateMs > FRAME_MS).length;
    assert.ok(burst <= SEND_MAX_LATE_MS / FRAME_MS + 1, `burst of ${burst} frames`);
    // Sending resumes with the frame that is due, and the indices keep real time.
    assert.equal(sent[sent.length - 1].index, 499);
  });

  it('ends on time even when it stalls past the end', () => {
    const { sent, skipped } = simulate(100, [{ atMs: 500, forMs: 5000 }]);
    assert.equal(sent.length + skipped, 100);
    assert.ok(skipped >= 49);
  });
});
