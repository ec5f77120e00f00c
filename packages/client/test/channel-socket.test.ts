import assert from 'node:assert/strict';
import { it } from 'node:test';
import { CallSocket } from '../src/call-core.js';
import { ChannelMux } from '../src/channel-socket.js';

/** A websocket that records what is sent, and lets the test play the server. */
class FakeSocket implements CallSocket {
  readyState = 0;
  bufferedAmount = 0;
  sent: (string | Uint8Array)[] = [];
  closed?: number;
  onopen: CallSocket['onopen'] = null;
  onmessage: CallSocket['onmessage'] = null;
  onerror: CallSocket['onerror'] = null;
  onclose: CallSocket['onclose'] = null;
  send(data: string | Uint8Array): void {
    this.sent.push(data);
  }
  close(code = 1000): void {
    this.closed = code;
    this.readyState = 3;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.(undefined);
  }
  serverSends(data: unknown): void {
    this.onmessage?.({ data });
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

it('puts each view on its channel: the byte in front of frames, ch in text; hands each view only its own', async () => {
  const sockets: FakeSocket[] = [];
  const mux = new ChannelMux(() => {
    const s = new FakeSocket();
    sockets.push(s);
    return s;
  });
  const a = mux.factoryFor(0)('ws://x/ws', () => undefined);
  const b = mux.factoryFor(3)('ws://x/ws', () => undefined);
  assert.equal(sockets.length, 1, 'one websocket for both');
  const heard: [string, unknown][] = [];
  const closes: [string, number][] = [];
  for (const [name, view] of [['a', a], ['b', b]] as const) {
    view.onmessage = (e) => heard.push([name, e.data]);
    view.onclose = (e) => closes.push([name, e.code]);
  }
  sockets[0].open();
  a.send(JSON.stringify({ type: 'join', line: 'L' }));
  b.send(JSON.stringify({ type: 'join', line: 'M' }));
  b.send(new Uint8Array([7, 8]));
  assert.deepEqual(sockets[0].sent.slice(0, 2).map((m) => JSON.parse(m as string).ch), [0, 3]);
  assert.deepEqual([...(sockets[0].sent[2] as Uint8Array)], [3, 7, 8]);
  // Frames before a view's join is answered are not its line's: dropped.
  sockets[0].serverSends(new Uint8Array([3, 1, 2]));
  sockets[0].serverSends(JSON.stringify({ type: 'joined', ch: 3 }));
  sockets[0].serverSends(new Uint8Array([3, 1, 2]));
  sockets[0].serverSends(new Uint8Array([0, 9, 9]));
  assert.deepEqual(heard.map(([n, d]) => [n, typeof d === 'string' ? JSON.parse(d).type : [...(d as Uint8Array)]]), [['b', 'joined'], ['b', [1, 2]]]);
  // A refusal of channel 3 closes view b alone, with the refusal's close code; a leaves with a leave message.
  sockets[0].serverSends(JSON.stringify({ type: 'error', code: 'line_full', message: 'full', ch: 3 }));
  assert.deepEqual(closes, [['b', 4409]]);
  a.close();
  await tick();
  assert.deepEqual(JSON.parse(sockets[0].sent.at(-1) as string), { type: 'leave', ch: 0 });
  assert.equal(sockets[0].closed, 1000, 'no channel left: the socket closes');
  // The next view opens a new socket.
  const c = mux.anyChannel(1)('ws://x/ws', () => undefined);
  assert.equal(sockets.length, 2);
  c.onclose = (e) => closes.push(['c', e.code]);
  const d = mux.anyChannel(1)('ws://x/ws', () => undefined);
  sockets[1].open();
  d.send(JSON.stringify({ type: 'ping', t: 1 }));
  assert.equal(JSON.parse(sockets[1].sent[0] as string).ch, 2, 'anyChannel took the next free number');
  // The socket's own close reaches every view.
  sockets[1].onclose?.({ code: 1006, reason: '' });
  assert.deepEqual(closes.at(-1), ['c', 1006]);
});
