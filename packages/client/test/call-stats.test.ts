/**
 * The call's figures by what they mean, in simulated time: bitrates are counted bytes over measured
 * elapsed time (so a late sample on a busy machine does not make them wrong), losses are counter
 * gaps per sender, and reconnect delays follow the policy's array within its jitter.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CallRates, LossCounter, RateMeter, formatBitrate } from '../src/call-stats.js';
import { RECONNECT_DELAYS_MS, RECONNECT_JITTER } from '../src/call-constants.js';
import { ReconnectPolicy } from '../src/reconnect-policy.js';

/** A full-rate stream as the gateway sees it: one wire frame of this size every 10 ms. */
const WIRE_FRAME_BYTES = 4032;
const STREAM_BPS = (WIRE_FRAME_BYTES * 8) / 0.01;

/** Bytes sent by time `t` (ms) when a frame goes at 0, 10, 20, ... ms, except during `gaps`. */
function sentBy(t: number, gaps: [number, number][] = []): number {
  let frames = 0;
  for (let at = 0; at <= t; at += 10) if (!gaps.some(([a, b]) => at >= a && at < b)) frames++;
  return frames * WIRE_FRAME_BYTES;
}

describe('bitrate over a window', () => {
  it('a steady stream reads as its true rate, however irregular (or late) the samples', () => {
    const meter = new RateMeter(2000);
    // Samples every ~500 ms, some late by up to 1.2 s, as a busy main thread delivers them.
    const times = [0, 500, 1000, 1510, 2700, 3200, 3700, 4905, 5400, 5900, 6400];
    for (const t of times) meter.sample(t, sentBy(t));
    const rate = meter.bitsPerSecond as number;
    // Within one frame's bits over the window of the true rate; never the 25 % short of a stale clock.
    assert.ok(Math.abs(rate - STREAM_BPS) <= (WIRE_FRAME_BYTES * 8) / 2, `${rate} vs ${STREAM_BPS}`);
    assert.equal(formatBitrate(rate), '3.23 Mbit/s');
  });

  it('reads exactly the counted bytes over the elapsed time between its oldest and newest sample', () => {
    const meter = new RateMeter(2000);
    const samples = [
      [0, 0],
      [700, 1_000_000],
      [2100, 1_500_000],
      [2600, 2_100_000],
    ];
    for (const [t, total] of samples) meter.sample(t, total);
    // The window starts at the newest sample at least 2 s before the last (t = 0; 700 is too recent).
    assert.equal(meter.bitsPerSecond, (2_100_000 * 8 * 1000) / 2600);
    meter.sample(2800, 2_400_000);
    // Now 700 covers the window on its own: t = 0 is dropped.
    assert.equal(meter.bitsPerSecond, ((2_400_000 - 1_000_000) * 8 * 1000) / (2800 - 700));
  });

  it('a 1 s stall shows as half the rate over a 2 s window, and the catch-up as the bytes that came', () => {
    const meter = new RateMeter(2000);
    const gaps: [number, number][] = [[4000, 5000]];
    for (let t = 0; t <= 5000; t += 500) meter.sample(t, sentBy(t, gaps));
    const rate = meter.bitsPerSecond as number;
    assert.ok(Math.abs(rate - STREAM_BPS / 2) <= WIRE_FRAME_BYTES * 8, `${rate}`);
  });

  it('is unknown until two samples some time apart', () => {
    const rates = new CallRates(2000);
    assert.equal(rates.sent.bitsPerSecond, undefined);
    rates.sample(100, { bytesSent: 10, bytesReceived: 0 });
    assert.equal(rates.sent.bitsPerSecond, undefined);
    assert.equal(formatBitrate(undefined), '–');
    rates.sample(1100, { bytesSent: 1010, bytesReceived: 500 });
    assert.equal(rates.sent.bitsPerSecond, 8000);
    assert.equal(rates.received.bitsPerSecond, 4000);
  });
});

describe('losses by counter', () => {
  it('counts frames missing between each sender’s first and last counter; reordering is not loss', () => {
    const loss = new LossCounter();
    for (const ctr of [5n, 7n, 6n, 9n]) loss.heard(1n, ctr);
    for (const ctr of [0n, 1n, 2n]) loss.heard(2n, ctr);
    assert.equal(loss.lost, 1, 'counter 8 of sender 1');
    loss.heard(1n, 4n);
    assert.equal(loss.lost, 1, 'a late first frame widens the span and fills it');
    loss.forget(1n);
    loss.heard(1n, 100n);
    assert.equal(loss.lost, 1, 'a sender that left keeps its losses; coming back (new session) starts afresh');
  });
});

describe('reconnect policy', () => {
  it('takes its delays from one array, the last repeating, each within the jitter', () => {
    const exact = new ReconnectPolicy(RECONNECT_DELAYS_MS, 0);
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map((a) => exact.delayMs(a)), [...RECONNECT_DELAYS_MS, ...Array(8 - RECONNECT_DELAYS_MS.length).fill(RECONNECT_DELAYS_MS.at(-1))]);
    const low = new ReconnectPolicy(RECONNECT_DELAYS_MS, RECONNECT_JITTER, () => 0);
    const high = new ReconnectPolicy(RECONNECT_DELAYS_MS, RECONNECT_JITTER, () => 0.999999);
    for (let a = 0; a < RECONNECT_DELAYS_MS.length; a++) {
      assert.equal(low.delayMs(a), Math.round(RECONNECT_DELAYS_MS[a] * (1 - RECONNECT_JITTER)));
      assert.equal(high.delayMs(a), Math.round(RECONNECT_DELAYS_MS[a] * (1 + RECONNECT_JITTER)));
    }
    assert.throws(() => new ReconnectPolicy([]), /at least one delay/);
  });
});
