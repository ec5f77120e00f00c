/**
 * The talk gate (talk-gate.ts): push-to-talk opens on the first frame after the key goes down and
 * closes on the first after it comes up, each edge faded over FADE_MS (no click); listen-only and
 * mute send nothing; and the listeners' loss count takes a pause for what it is.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FADE_MS, LossCounter, TalkGate } from '../src/index.js';

const RATE = 48_000;
const FRAME = 480;
const loud = () => new Int16Array(FRAME).fill(10_000);

describe('the talk gate', () => {
  it('push-to-talk: nothing while the key is up; the first frame after it goes down fades in, the first after it comes up fades out, then nothing', () => {
    const gate = new TalkGate('ptt', RATE);
    assert.equal(gate.process(loud(), 0), undefined, 'key up: not sent');
    gate.press(12);
    const first = gate.process(loud(), 14) as Int16Array;
    assert.ok(first, 'the next frame goes out');
    assert.equal(gate.lastStartDelayMs, 2, 'from the key to that frame');
    const fade = (RATE * FADE_MS) / 1000;
    assert.ok(first[0] > 0 && first[0] < 10_000 / fade + 1, `starts near silence (${first[0]})`);
    for (let i = 1; i < fade; i++) assert.ok(first[i] >= first[i - 1], 'rises');
    assert.equal(first[fade], 10_000, 'full level after the fade');
    assert.deepEqual(gate.process(loud(), 24), loud(), 'held: frames as captured');
    gate.release();
    const last = gate.process(loud(), 34) as Int16Array;
    assert.ok(last, 'one more frame, fading out');
    assert.ok(last[0] < 10_000 && last[fade - 1] === 0 && last[FRAME - 1] === 0, 'ramps to silence and stays there');
    assert.equal(gate.process(loud(), 44), undefined, 'then nothing');
  });

  it('listen-only sends nothing; mute closes a hot mic with a fade and opens it again', () => {
    const listen = new TalkGate('listen', RATE);
    listen.press(0);
    assert.equal(listen.process(loud(), 0), undefined);
    const hot = new TalkGate('hot', RATE);
    assert.deepEqual(hot.process(loud(), 0), loud());
    hot.setMuted(true);
    assert.equal((hot.process(loud(), 10) as Int16Array)[FRAME - 1], 0, 'a fade to silence');
    assert.equal(hot.process(loud(), 20), undefined);
    hot.setMuted(false);
    assert.ok((hot.process(loud(), 30) as Int16Array)[0] < 10_000, 'a fade in');
  });

  it('a listener does not count a pause as loss: the frame after it is marked as a talk spurt start', () => {
    const loss = new LossCounter();
    for (const ctr of [0n, 1n, 2n]) loss.heard(7n, ctr);
    loss.heard(7n, 300n, true); // push-to-talk was up from 3 to 299
    loss.heard(7n, 302n); // 301 lost on the way
    assert.equal(loss.lost, 1);
    assert.equal(loss.longestGap, 1);
  });
});
