import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DtmfMenu, MenuAction, parseTelephoneEvent } from '../src/dtmf.js';

/** The packets of one RFC 4733 key press: a few updates, then three end packets, one timestamp. */
function press(menu: DtmfMenu, key: number, timestamp: number): void {
  for (let i = 0; i < 4; i++) menu.packet(timestamp, parseTelephoneEvent(new Uint8Array([key, 10, 0, 160 * i]))!);
  for (let i = 0; i < 3; i++) menu.packet(timestamp, parseTelephoneEvent(new Uint8Array([key, 0x8a, 2, 128]))!);
}

describe('DTMF menu', () => {
  it('counts each press once, *1 toggles mute, # hangs up, other keys do nothing', () => {
    const actions: [MenuAction, string][] = [];
    const menu = new DtmfMenu((a, k) => actions.push([a, k]));
    press(menu, 10, 1000); // *
    press(menu, 1, 2000);
    press(menu, 5, 3000);
    press(menu, 10, 4000);
    press(menu, 1, 5000);
    press(menu, 11, 6000); // #
    assert.deepEqual(actions, [['key', '*'], ['mute', '1'], ['key', '5'], ['key', '*'], ['unmute', '1'], ['hangup', '#']]);
  });

  it('*2 latches push-to-talk: the first closes the phone\'s channel, each next one opens or closes it', () => {
    const actions: MenuAction[] = [];
    const menu = new DtmfMenu((a) => actions.push(a));
    for (const [i, key] of [10, 2, 10, 2, 10, 2, 2].entries()) press(menu, key, 100 * (i + 1));
    assert.deepEqual(actions, ['key', 'talk_off', 'key', 'talk_on', 'key', 'talk_off', 'key'], 'a 2 without * is just a key');
  });

  it('tells presses apart when a sender reuses one timestamp (recorded presses replayed)', () => {
    const actions: string[] = [];
    const menu = new DtmfMenu((_a, k) => actions.push(k));
    press(menu, 10, 7);
    press(menu, 1, 7);
    press(menu, 1, 7);
    assert.deepEqual(actions, ['*', '1', '1']);
  });

  it('ignores what is not a key: short payloads and events past D', () => {
    assert.equal(parseTelephoneEvent(new Uint8Array([1, 2, 3])), undefined);
    assert.equal(parseTelephoneEvent(new Uint8Array([16, 0, 0, 0])), undefined);
    assert.deepEqual(parseTelephoneEvent(new Uint8Array([11, 0x80, 1, 0])), { key: '#', end: true, duration: 256 });
  });
});
