/**
 * The call core against a scripted gateway, in simulated time: joins, reconnects by its policy
 * with a new sender id each time, stops for good on a refusal, moves at once when the gateway
 * drains, skips (and counts) frames it cannot send, and counts what it receives exactly.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameSealer, STUDIO_SAMPLE_RATE, encodeAudioFrame, formatCallLink, generateLeaf, parseCallLink, parseLeaf, samplesPerFrame } from '@studioline/protocol';
import { CallClock, CallCore, CallError, CallSocket, FrameSink, ReceivedFrame, SocketFactory } from '../src/call-core.js';
import { RECONNECT_DELAYS_MS, SEND_BUFFER_LIMIT_BYTES } from '../src/call-constants.js';
import { ReconnectPolicy } from '../src/reconnect-policy.js';

/** Timers that fire only when the test moves time on. */
class FakeClock implements CallClock {
  private t = 1000;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  /** The delay until the next timer, if any. */
  get nextDelay(): number | undefined {
    const next = Math.min(...this.timers.map((t) => t.at));
    return Number.isFinite(next) ? next - this.t : undefined;
  }
  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = until;
  }
}

class FakeSocket implements CallSocket {
  readyState = 0;
  bufferedAmount = 0;
  readonly sent: (string | Uint8Array)[] = [];
  closedWith?: number;
  onopen: CallSocket['onopen'] = null;
  onmessage: CallSocket['onmessage'] = null;
  onerror: CallSocket['onerror'] = null;
  onclose: CallSocket['onclose'] = null;
  constructor(readonly refuse: (status: number) => void) {}
  send(data: string | Uint8Array): void {
    this.sent.push(data);
  }
  close(code = 1000, reason = ''): void {
    this.closedWith = code;
    this.serverClose(code, reason);
  }
  // The gateway's side:
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  message(msg: object | Uint8Array): void {
    this.onmessage?.({ data: msg instanceof Uint8Array ? msg : JSON.stringify(msg) });
  }
  serverClose(code: number, reason = ''): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  get join(): { sender: string; rate: number } {
    return JSON.parse(this.sent[0] as string);
  }
  get frames(): Uint8Array[] {
    return this.sent.filter((d): d is Uint8Array => typeof d !== 'string');
  }
}


/** Waits for the core's own promises (key derivation, sealing) to get somewhere; not a timing test. */
async function until<T>(probe: () => T | undefined | false, what: string): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

function setup(options: { reconnect?: boolean; retryFirstConnect?: boolean } = {}) {
  const leaf = generateLeaf();
  const link = parseCallLink(formatCallLink('http://gateway.test', 'k'.repeat(72), leaf));
  const clock = new FakeClock();
  const sockets: FakeSocket[] = [];
  const factory: SocketFactory = (_url, refuse) => {
    const s = new FakeSocket(refuse);
    sockets.push(s);
    return s;
  };
  const core = new CallCore({ link, url: 'ws://gateway.test/ws', sampleRate: STUDIO_SAMPLE_RATE, socket: factory, clock, policy: new ReconnectPolicy(RECONNECT_DELAYS_MS, 0), pingIntervalMs: 0, ...options });
  const states: string[] = [];
  core.on('state', ({ state }) => states.push(state));
  /** Opens socket `i` and answers its join. */
  const accept = async (i: number, peers: string[] = ['abc']) => {
    const s = await until(() => sockets[i], `socket ${i}`);
    s.open();
    s.message({ type: 'joined', line: 'x', sender: s.join.sender, peers, capacity: 2, budgetBps: 7e6 });
    return s;
  };
  return { core, clock, sockets, states, accept, leafBytes: parseLeaf(leaf) as Uint8Array };
}

const tone = () => new Int16Array(samplesPerFrame(STUDIO_SAMPLE_RATE)).fill(1000);

describe('call core', () => {
  it('reconnects by the policy’s delays, with a new sender id each session, and counts the rejoin', async () => {
    const { core, clock, sockets, states, accept } = setup();
    const started = core.start();
    const first = await accept(0);
    await started;
    assert.equal(core.isJoined, true);
    first.serverClose(1006);
    assert.equal(clock.nextDelay, RECONNECT_DELAYS_MS[0]);
    // Each failed attempt waits the next delay in the array, then the last one over and over.
    for (let attempt = 1; attempt <= RECONNECT_DELAYS_MS.length + 1; attempt++) {
      clock.advance(clock.nextDelay as number);
      const s = await until(() => sockets[attempt], `attempt ${attempt}`);
      s.serverClose(1006);
      assert.equal(clock.nextDelay, RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)]);
    }
    clock.advance(clock.nextDelay as number);
    const back = await accept(RECONNECT_DELAYS_MS.length + 2);
    assert.equal(core.isJoined, true);
    const senders = new Set(sockets.filter((s) => s.sent.length).map((s) => s.join.sender));
    assert.equal(senders.size, sockets.filter((s) => s.sent.length).length, 'a new sender id for every session');
    assert.equal(core.figures().reconnects, 1, 'one rejoin after the loss');
    assert.equal(states.at(-1), 'in-call');
    assert.ok(states.includes('reconnecting'));
    // After a successful join the policy starts over from its first delay.
    back.serverClose(1006);
    assert.equal(clock.nextDelay, RECONNECT_DELAYS_MS[0]);
    core.stop();
  });

  it('a refusal with a final close code ends the call: no retry, the reason in words', async () => {
    const { core, clock, sockets, states } = setup();
    const ended = new Promise<CallError | undefined>((resolve) => core.on('ended', ({ error }) => resolve(error)));
    const started = core.start();
    const s = await until(() => sockets[0], 'socket');
    s.open();
    s.message({ type: 'error', code: 'unauthorized', message: 'The API key is wrong, expired or unknown.' });
    s.serverClose(4401, 'unauthorized');
    await assert.rejects(started, (err: CallError) => err.code === 'unauthorized' && err.closeCode === 4401);
    assert.equal((await ended)?.message, 'The API key is wrong, expired or unknown.');
    assert.equal(states.at(-1), 'refused');
    assert.equal(clock.nextDelay, undefined, 'no retry scheduled');
  });

  it('without retryFirstConnect, a server that cannot be reached fails start() at once', async () => {
    const { core, clock, sockets } = setup({ retryFirstConnect: false });
    const started = core.start();
    const s = await until(() => sockets[0], 'socket');
    s.onerror?.({ message: 'connect ECONNREFUSED 127.0.0.1:9' });
    s.serverClose(1006);
    await assert.rejects(started, /cannot connect to ws:\/\/gateway.test\/ws: connect ECONNREFUSED/);
    assert.equal(clock.nextDelay, undefined);
  });

  it('an upgrade refused with HTTP 403 is a bad origin, for good', async () => {
    const { core, sockets } = setup();
    const started = core.start();
    const s = await until(() => sockets[0], 'socket');
    s.refuse(403);
    s.serverClose(1006);
    await assert.rejects(started, (err: CallError) => err.code === 'bad_origin' && /HTTP 403/.test(err.message));
  });

  it('a draining gateway: the core moves to a new connection at once, without waiting for the close', async () => {
    const { core, clock, sockets, accept } = setup();
    const started = core.start();
    const first = await accept(0);
    await started;
    first.message({ type: 'error', code: 'draining', message: 'The server is restarting; reconnect.' });
    assert.equal(first.closedWith, 1000, 'the old socket is closed by the client');
    const second = await until(() => sockets[1], 'a second socket without any timer');
    assert.equal(clock.nextDelay, undefined);
    await accept(1);
    assert.notEqual(second.join.sender, first.join.sender);
    assert.equal(core.figures().reconnects, 1);
    core.stop();
  });

  it('sends only while joined and while the socket keeps up; every skipped frame is counted by why', async () => {
    const { core, accept } = setup();
    const sent: bigint[] = [];
    core.on('sent', ({ ctr }) => sent.push(ctr));
    assert.equal(await core.send(tone()), false, 'not joined yet');
    const started = core.start();
    const s = await accept(0);
    await started;
    assert.equal(await core.send(tone()), true);
    assert.equal(await core.send(tone()), true);
    s.bufferedAmount = SEND_BUFFER_LIMIT_BYTES + 1;
    assert.equal(await core.send(tone()), false, 'backed up');
    s.bufferedAmount = 0;
    assert.equal(await core.send(tone()), true);
    const f = core.figures();
    assert.deepEqual([f.framesSent, f.unsentDisconnected, f.unsentBackpressure], [3, 1, 1]);
    assert.equal(f.bytesSent, s.frames.reduce((n, w) => n + w.length, 0), 'bytes counted are bytes handed to the socket');
    // The counter is the frame clock: the frame skipped while backed up keeps its counter (2), unused.
    assert.deepEqual(sent, [0n, 1n, 3n], 'the counter of each frame sent, in order');
    core.stop();
  });

  it('received frames reach every sink and are counted exactly: lost by counter gap, replays dropped, a leaving sender forgotten', async () => {
    const { core, accept, leafBytes } = setup();
    const heard: ReceivedFrame[] = [];
    const forgotten: string[] = [];
    const sink: FrameSink = { push: (f) => heard.push(f), forget: (s) => forgotten.push(s) };
    core.addSink(sink);
    const started = core.start();
    const s = await accept(0);
    await started;
    const other = await FrameSealer.create(leafBytes, 0xabcn);
    const wires: Uint8Array[] = [];
    for (let i = 0; i < 6; i++) wires.push(await other.seal(10, encodeAudioFrame(STUDIO_SAMPLE_RATE, tone())));
    // Counter 2 never arrives; counter 1 arrives twice (a replay).
    for (const i of [0, 1, 3, 1, 4, 5]) s.message(wires[i]);
    await until(() => core.figures().replayed === 1 && heard.length === 5, 'frames opened');
    const f = core.figures();
    assert.deepEqual([f.framesReceived, f.lost, f.replayed, f.decryptFailed], [5, 1, 1, 0]);
    assert.equal(f.bytesReceived, [0, 1, 3, 1, 4, 5].reduce((n, i) => n + wires[i].length, 0));
    // Frames are opened (decrypted) asynchronously, and reach the sinks in the order they open: the jitter buffer orders them.
    assert.deepEqual(heard.map((h) => h.ctr).sort((a, b) => Number(a - b)), [0n, 1n, 3n, 4n, 5n]);
    assert.equal(heard[0].sender, 'abc');
    assert.equal(heard[0].pcm.length, samplesPerFrame(STUDIO_SAMPLE_RATE));
    s.message({ type: 'peer_left', sender: 'abc' });
    assert.deepEqual(forgotten, ['abc']);
    assert.equal(core.figures().lost, 1, 'losses of a sender that left are kept');
    core.stop();
  });
});
