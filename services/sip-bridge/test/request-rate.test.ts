import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestRate } from '../src/request-rate.js';

describe('requests per source address', () => {
  it('lets a burst through, then the average rate, per address', () => {
    let now = 0;
    const rate = new RequestRate(10, 5, 100, () => now);
    const taken = Array.from({ length: 8 }, () => rate.take('192.0.2.1'));
    assert.deepEqual(taken, [true, true, true, true, true, false, false, false], 'the burst, then refused');
    assert.equal(rate.take('192.0.2.2'), true, 'another address has its own bucket');
    now += 100; // 10/s: one more after 100 ms
    assert.equal(rate.take('192.0.2.1'), true);
    assert.equal(rate.take('192.0.2.1'), false);
    now += 10_000;
    assert.equal(Array.from({ length: 6 }, () => rate.take('192.0.2.1')).filter(Boolean).length, 5, 'refilled to the burst, no more');
  });

  it('forgets the least recently seen address past its table size', () => {
    const rate = new RequestRate(1, 1, 2, () => 0);
    assert.equal(rate.take('a'), true);
    assert.equal(rate.take('a'), false);
    rate.take('b');
    rate.take('c'); // evicts a
    assert.equal(rate.take('a'), true, 'a was forgotten: a full bucket again');
  });
});
