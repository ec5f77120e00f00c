/**
 * The in-memory bus (the embedded default) delivers like Redis: after the publisher's code has
 * returned, in order, never re-entrantly inside another handler's publish.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryBus } from '../src/bus.js';

describe('the in-memory bus', () => {
  it('delivers after publish returns, in order, head and body joined', async () => {
    const bus = new MemoryBus();
    const seen: string[] = [];
    await bus.subscribe('a', (m) => seen.push(m.toString()));
    bus.publish('a', Buffer.from('1'));
    bus.publish('a', Buffer.from('2'), Buffer.from('b'));
    assert.deepEqual(seen, [], 'nothing is delivered inside publish');
    await Promise.resolve();
    assert.deepEqual(seen, ['1', '2b']);
  });

  it('never runs a handler inside another handler: a reply published in a handler arrives after it returned', async () => {
    const bus = new MemoryBus();
    const events: string[] = [];
    await bus.subscribe('request', () => {
      events.push('request start');
      bus.publish('reply', Buffer.from('r'));
      events.push('request end');
    });
    await bus.subscribe('reply', () => events.push('reply'));
    bus.publish('request', Buffer.from('q'));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(events, ['request start', 'request end', 'reply']);
  });

  it('drops what was queued for a channel unsubscribed before delivery, as Redis does', async () => {
    const bus = new MemoryBus();
    let got = 0;
    await bus.subscribe('c', () => got++);
    bus.publish('c', Buffer.from('x'));
    await bus.unsubscribe('c');
    await new Promise((r) => setImmediate(r));
    assert.equal(got, 0);
  });
});
