/** Helpers for the membership suites (issue 14): members with names, taps on what their sockets receive. */
import { CallSocket, NodePeer, PeerOptions, SessionIdentity, SocketFactory, createIdentity, nodeSocketFactory, toneSource } from '@studioline/client';
import { CallLink, FrameOpener, MOBILE_SAMPLE_RATE, SigningKeyPair, decodeHeader } from '@studioline/protocol';

/** What a member's sockets received (every binary message, by socket: 0 is its first line), and a way to play the server. */
export interface Tap {
  factory: SocketFactory;
  /** Per socket, in the order the sockets were opened: every binary message as it arrived. */
  sockets: Uint8Array[][];
  /** Hands `data` to the newest socket's listener as if the server had sent it. */
  inject(data: Uint8Array): void;
}

export function tap(): Tap {
  const inner = nodeSocketFactory({});
  const sockets: Uint8Array[][] = [];
  const handlers: CallSocket['onmessage'][] = [];
  const factory: SocketFactory = (url, onRefused) => {
    const ws = inner(url, onRefused);
    const got: Uint8Array[] = [];
    const index = sockets.push(got) - 1;
    handlers.push(null);
    const socket: CallSocket = {
      get readyState() { return ws.readyState; },
      get bufferedAmount() { return ws.bufferedAmount; },
      send: (data) => ws.send(data),
      close: (code, reason) => ws.close(code, reason),
      get onopen() { return ws.onopen; },
      set onopen(h) { ws.onopen = h; },
      get onerror() { return ws.onerror; },
      set onerror(h) { ws.onerror = h; },
      get onclose() { return ws.onclose; },
      set onclose(h) { ws.onclose = h; },
      get onmessage() { return handlers[index]; },
      set onmessage(h) {
        handlers[index] = h;
        ws.onmessage = h === null ? null : (event: { data: unknown }) => {
          if (typeof event.data !== 'string') got.push(new Uint8Array(event.data as Buffer).slice());
          h(event);
        };
      },
    };
    return socket;
  };
  return { factory, sockets, inject: (data) => handlers.at(-1)?.({ data: Buffer.from(data) }) };
}

/** A member: quiet tone at the mobile rate (many on a line stay within the budget), with a name and session keys. */
export async function member(link: CallLink, name: string, hz: number, seconds: number, extra: Partial<PeerOptions> & { signing?: SigningKeyPair } = {}): Promise<{ peer: NodePeer; identity: SessionIdentity }> {
  const { signing, ...rest } = extra;
  const identity = await createIdentity(name, signing ? { signing } : {});
  const peer = new NodePeer({ link, source: toneSource(hz, MOBILE_SAMPLE_RATE, 0.2), seconds, peerTimeoutMs: 20_000, identity, leaveGraceMs: 60_000, ...rest });
  return { peer, identity };
}

/**
 * Tries every key in `secrets` on every frame (as an attacker who kept them all would); returns the
 * frames that opened, as `sender:ctr` with their counters.
 */
export async function openWithAll(frames: Uint8Array[], secrets: Uint8Array[]): Promise<{ senderId: bigint; ctr: bigint }[]> {
  const opened = new Map<string, { senderId: bigint; ctr: bigint }>();
  for (const secret of secrets) {
    const opener = new FrameOpener(secret);
    for (const wire of frames) {
      const header = wire.length > 1 ? decodeHeader(wire, 1) : undefined;
      if (!header) continue;
      const result = await opener.open(wire);
      if (typeof result !== 'string') opened.set(`${result.kid}:${result.ctr}`, { senderId: result.senderId, ctr: result.ctr });
    }
  }
  return [...opened.values()];
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves when `check` is true (polled), rejects after `ms`. */
export async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
