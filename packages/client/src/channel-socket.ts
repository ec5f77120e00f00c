/**
 * One websocket shared by several call cores, one per channel (channels.ts in protocol): each core
 * is given a socket of its own that is a view of the shared one, so join, reconnect, sender ids,
 * sealing and the figures stay the call core's, unchanged and not copied. The view puts its
 * channel number on what the core sends (the byte in front of frames, `ch` in text) and hands the
 * core only what is of its channel.
 *
 * - A core's close is a `leave` of its channel; the shared socket closes when no channel is left.
 * - A refusal of one channel (an `error` with its `ch` that closes) closes that core's view alone,
 *   with the error's close code, as a refused socket would.
 * - Whatever concerns the whole socket (its close, an `error` without `ch`, a refused upgrade)
 *   reaches every view. After a close, or an error that closes it (draining), the next view asked
 *   for opens a new socket: the cores reconnect by their own policy and meet again on it, each
 *   with a new sender id, so a reconnect rejoins every channel.
 */
import { ERRORS, encodeChannelFrame, messageChannel, parseServerMessage } from '@studioline/protocol';
import type { CallSocket, SocketFactory } from './call-core.js';

const OPEN = 1;
const CLOSED = 3;

/** One shared websocket and the channel views on it. */
interface Shared {
  ws: CallSocket;
  views: Map<number, ChannelView>;
  /** No new view joins it: it closed, or the server said it will (draining). */
  retired: boolean;
}

type Handlers = Pick<CallSocket, 'onopen' | 'onmessage' | 'onerror' | 'onclose'>;

/** What a call core sees of the shared socket: its channel's part. */
class ChannelView implements CallSocket {
  onopen: Handlers['onopen'] = null;
  onmessage: Handlers['onmessage'] = null;
  onerror: Handlers['onerror'] = null;
  onclose: Handlers['onclose'] = null;
  /** Its join went out: a close is a leave. */
  joining = false;
  /** Its join was answered: frames of its channel reach it (earlier ones are the last line's on this number). */
  joined = false;
  closed = false;

  constructor(
    private readonly mux: ChannelMux,
    readonly shared: Shared,
    readonly channel: number,
    readonly onRefused: (httpStatus: number) => void,
  ) {}

  get readyState(): number {
    return this.closed ? CLOSED : this.shared.ws.readyState;
  }

  get bufferedAmount(): number {
    // The budgets are the socket's: every channel's frames wait in one queue.
    return this.shared.ws.bufferedAmount;
  }

  send(data: string | Uint8Array): void {
    if (this.closed) return;
    if (typeof data !== 'string') return this.shared.ws.send(encodeChannelFrame(this.channel, data));
    const msg = JSON.parse(data) as { type?: string };
    if (msg.type === 'join') this.joining = true;
    this.shared.ws.send(JSON.stringify({ ...msg, ch: this.channel }));
  }

  close(): void {
    if (this.closed) return;
    this.mux.release(this, true);
    // As a websocket does, a close is reported (a core that closed its socket ignores it).
    queueMicrotask(() => this.onclose?.({ code: 1000, reason: 'bye' }));
  }
}

export class ChannelMux {
  private shared?: Shared;

  /** @param open opens the real websocket (the Node peer's `ws`, the page's WebSocket). */
  constructor(private readonly open: SocketFactory) {}

  /** The socket factory to give the call core of channel `channel` (every core of the mux must use the same URL). */
  factoryFor(channel: number): SocketFactory {
    return (url, onRefused) => this.attach(url, channel, onRefused);
  }

  /**
   * A socket factory that takes the lowest channel number free (from `from` on) each time a core
   * connects: for cores that come and go on their own, such as a membership's move to a new line
   * (member-call.ts), which must not share a number with the line they leave.
   */
  anyChannel(from = 0): SocketFactory {
    return (url, onRefused) => {
      const taken = this.shared && !this.shared.retired ? this.shared.views : new Map();
      let channel = from;
      while (taken.has(channel)) channel++;
      return this.attach(url, channel, onRefused);
    };
  }

  /** Channels with a view on the socket now. */
  get channelCount(): number {
    return this.shared?.views.size ?? 0;
  }

  private attach(url: string, channel: number, onRefused: (httpStatus: number) => void): CallSocket {
    let shared = this.shared;
    if (!shared || shared.retired || shared.ws.readyState > OPEN) shared = this.shared = this.connect(url);
    shared.views.get(channel)?.close();
    const view = new ChannelView(this, shared, channel, onRefused);
    shared.views.set(channel, view);
    // Already open: the core sets its handlers once this returns, so it hears of it just after.
    if (shared.ws.readyState === OPEN) queueMicrotask(() => !view.closed && view.onopen?.(undefined));
    return view;
  }

  private connect(url: string): Shared {
    const views = new Map<number, ChannelView>();
    const ws = this.open(url, (status) => {
      for (const view of [...views.values()]) view.onRefused(status);
    });
    const shared: Shared = { ws, views, retired: false };
    ws.onopen = (event) => {
      for (const view of [...views.values()]) view.onopen?.(event);
    };
    ws.onerror = (event) => {
      for (const view of [...views.values()]) view.onerror?.(event);
    };
    ws.onclose = (event) => {
      shared.retired = true;
      for (const view of [...views.values()]) {
        view.closed = true;
        view.onclose?.(event);
      }
      views.clear();
    };
    ws.onmessage = (event) => this.onMessage(shared, event.data);
    return shared;
  }

  private onMessage(shared: Shared, data: unknown): void {
    if (typeof data !== 'string') {
      const bytes = toBytes(data);
      const view = bytes && bytes.length > 1 ? shared.views.get(bytes[0]) : undefined;
      if (view?.joined) view.onmessage?.({ data: bytes?.subarray(1) });
      return;
    }
    const msg = parseServerMessage(data);
    if (!msg) return;
    const channel = messageChannel(msg);
    if (channel === undefined) {
      // The whole socket's: a warning, or a refusal (draining) after which it closes.
      if (msg.type === 'error' && ERRORS[msg.code]?.closeCode) shared.retired = true;
      for (const view of [...shared.views.values()]) view.onmessage?.({ data });
      return;
    }
    const view = shared.views.get(channel);
    if (!view || msg.type === 'left') return;
    if (msg.type === 'joined') view.joined = true;
    view.onmessage?.({ data });
    const closeCode = msg.type === 'error' ? ERRORS[msg.code]?.closeCode : 0;
    if (closeCode) {
      // This channel was refused: its core hears it as its socket's close, with the refusal's code.
      this.release(view, false);
      view.onclose?.({ code: closeCode, reason: msg.type === 'error' ? msg.code : '' });
    }
  }

  /** A view is done: its channel is left (when it had joined, and `leave`), and the socket closed once none is left. */
  release(view: ChannelView, leave: boolean): void {
    if (view.closed) return;
    view.closed = true;
    const { shared } = view;
    if (shared.views.get(view.channel) === view) shared.views.delete(view.channel);
    if (leave && view.joining && shared.ws.readyState === OPEN) shared.ws.send(JSON.stringify({ type: 'leave', ch: view.channel }));
    if (shared.views.size === 0 && shared.ws.readyState <= OPEN) {
      shared.retired = true;
      shared.ws.close(1000, 'bye');
      if (this.shared === shared) this.shared = undefined;
    }
  }
}

function toBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}
