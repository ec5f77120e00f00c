/**
 * The step-down policy in simulated time (layer-step.ts): a probe that sits in a queue for the hold
 * steps a receiver down, a pause shorter than the hold does not, calm brings it back, a failed try
 * doubles the calm needed, and a mobile peer (nothing worse to go to) is never stepped.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LAYER_COMPACT, LAYER_FULL } from '@studioline/protocol';
import { HOLD_MS, PROBE_INTERVAL_MS, QUEUE_MS, ReceiverStep, SETTLE_MS, StepDecision } from '../src/layer-step.js';

const CALM_MS = 5000;

/**
 * Drives one receiver for `ms` from `from`, ticking every 50 ms, whose link answers a probe sent at
 * t after `rttAt(t)` ms; returns the decisions with their times.
 */
function drive(step: ReceiverStep, from: number, ms: number, rttAt: (t: number, step: ReceiverStep) => number): { at: number; decision: StepDecision }[] {
  const out: { at: number; decision: StepDecision }[] = [];
  const pending: { seq: number; due: number }[] = [];
  for (let t = from; t <= from + ms; t += 5) {
    while (pending.length && pending[0].due <= t) {
      const d = step.answered((pending.shift() as { seq: number }).seq, t);
      if (d) out.push({ at: t, decision: d });
    }
    if ((t - from) % 50 !== 0) continue;
    const seq = step.probe(t);
    if (seq !== undefined) pending.push({ seq, due: t + rttAt(t, step) });
    const d = step.tick(t);
    if (d) out.push({ at: t, decision: d });
  }
  return out;
}

describe('stepping a receiver down and up', () => {
  it('probes only after the settle time, then every PROBE_INTERVAL_MS while none is out', () => {
    const step = new ReceiverStep(LAYER_FULL, CALM_MS, 0);
    assert.equal(step.probe(SETTLE_MS - 50), undefined);
    const first = step.probe(SETTLE_MS);
    assert.equal(first, 1);
    assert.equal(step.probe(SETTLE_MS + PROBE_INTERVAL_MS), undefined, 'one probe out at a time');
    step.answered(1, SETTLE_MS + 3);
    assert.equal(step.probe(SETTLE_MS + PROBE_INTERVAL_MS), 2);
  });

  it('a link that starts queueing steps it down within the hold and a probe interval, once, and back up after the calm', () => {
    const step = new ReceiverStep(LAYER_FULL, CALM_MS, 0);
    const congestedFrom = 10_000;
    const congestedTo = 14_000;
    // 2 ms round trips; from 10 s to 14 s the link carries a third of the full layer: its queue
    // grows 2 ms a ms while the receiver gets the full layer and drains a ms a ms on the compact
    // one; after that it drains at once.
    let queue = 0;
    let last = 0;
    let drainedAt = Infinity;
    const rtt = (t: number, s: ReceiverStep) => {
      if (t >= congestedFrom) queue = Math.max(0, queue + (t - last) * (t >= congestedTo ? -10 : s.ceiling === LAYER_FULL ? 2 : -1));
      if (t >= congestedFrom && queue === 0 && s.ceiling === LAYER_COMPACT) drainedAt = Math.min(drainedAt, t);
      last = t;
      return 2 + queue;
    };
    const decisions = drive(step, 0, 30_000, rtt);
    assert.deepEqual(
      decisions.map((d) => d.decision),
      [
        { ceiling: LAYER_COMPACT, reason: 'congested' },
        { ceiling: LAYER_FULL, reason: 'calm' },
      ],
    );
    const downAfter = decisions[0].at - congestedFrom;
    assert.ok(downAfter <= PROBE_INTERVAL_MS + QUEUE_MS + HOLD_MS + 50, `stepped down ${downAfter} ms after the queue began`);
    // Up once the queue had drained and CALM_MS passed.
    const upAt = decisions[1].at;
    assert.ok(upAt >= drainedAt + CALM_MS - HOLD_MS - QUEUE_MS && upAt <= drainedAt + CALM_MS + PROBE_INTERVAL_MS, `stepped up at ${upAt}, the queue drained at ${drainedAt}`);
  });

  it('a receiver that pauses for less than the hold (its backlog read at once) is not stepped down', () => {
    const step = new ReceiverStep(LAYER_FULL, CALM_MS, 0);
    // Every 2 s it stops reading for 300 ms (a garbage collection, a busy tab): a probe sent then waits for the rest of the pause.
    const decisions = drive(step, 0, 20_000, (t) => (t % 2000 < 300 ? 300 - (t % 2000) + 3 : 3));
    assert.deepEqual(decisions, []);
  });

  it('a step up that meets trouble again doubles the calm needed before the next try (no flapping)', () => {
    const step = new ReceiverStep(LAYER_FULL, CALM_MS, 0);
    // From 5 s the full layer never fits: its queue grows whenever the receiver gets it, and drains on the compact one.
    let queue = 0;
    let last = 0;
    const decisions = drive(step, 0, 90_000, (t, s) => {
      if (t >= 5000) queue = Math.max(0, queue + (t - last) * (s.ceiling === LAYER_FULL ? 2 : -1));
      last = t;
      return 2 + queue;
    });
    const ups = decisions.filter((d) => d.decision.reason === 'calm');
    const downs = decisions.filter((d) => d.decision.reason === 'congested');
    // Each try at full meets the queue again; the gaps between tries grow.
    assert.ok(downs.length >= 2 && ups.length >= 1, JSON.stringify(decisions));
    const waits = ups.map((u, i) => u.at - downs[i].at);
    for (let i = 1; i < waits.length; i++) assert.ok(waits[i] > waits[i - 1] * 1.5, `waits ${waits}`);
  });

  it('a mobile peer has nothing worse to go to', () => {
    const step = new ReceiverStep(LAYER_COMPACT, CALM_MS, 0);
    assert.deepEqual(drive(step, 0, 20_000, () => 500), []);
  });
});
