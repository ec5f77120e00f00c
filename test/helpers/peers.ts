import { NodePeer, PeerOptions, PeerSummary, toneSource } from '@studioline/client';
import { CallLink, JoinLayers, STUDIO_SAMPLE_RATE, deriveLineId, encodeJoin, formatCallLink, generateLeaf, parseCallLink, randomSenderId } from '@studioline/protocol';
import WebSocket from 'ws';

/** A websocket to the gateway at `url` that is open (status 101) or refused with an HTTP status; not yet joined. */
export function openSocket(url: string, apiKey: string): Promise<{ ws: WebSocket; status: number }> {
  const ws = new WebSocket(newLink(url, apiKey).websocketUrl, { perMessageDeflate: false });
  return new Promise((resolve) => {
    ws.on('open', () => resolve({ ws, status: 101 }));
    ws.on('unexpected-response', (_req, res) => {
      resolve({ ws, status: res.statusCode ?? 0 });
      res.resume();
    });
    ws.on('error', () => undefined);
  });
}

export function newLink(url: string, apiKey: string): CallLink {
  return parseCallLink(formatCallLink(url, apiKey, generateLeaf()));
}

/** The same line (same leaf) through another gateway. */
export function sameLineVia(link: CallLink, url: string): CallLink {
  return parseCallLink(formatCallLink(url, link.apiKey, link.leaf as string));
}

export function tonePeer(link: CallLink, frequency: number, seconds: number, extra: Partial<PeerOptions> = {}): NodePeer {
  return new NodePeer({ link, source: toneSource(frequency, STUDIO_SAMPLE_RATE), seconds, record: true, peerTimeoutMs: 20_000, ...extra });
}

/** Two peers on one line, each sending a tone; resolves with both summaries. */
export async function call(a: CallLink, b: CallLink, seconds: number, extra: Partial<PeerOptions> = {}): Promise<[PeerSummary, PeerSummary]> {
  return Promise.all([tonePeer(a, 440, seconds, extra).run(), tonePeer(b, 1000, seconds, extra).run()]);
}

export interface RawClient {
  ws: WebSocket;
  messages: Record<string, unknown>[];
  /** Binary messages (audio frames) received so far. */
  frames: { count: number };
  closed: Promise<{ code: number; reason: string }>;
  sender: bigint;
  line: string;
}

/** A websocket that speaks the protocol by hand, to send what a well-behaved peer never would. */
export async function rawJoin(link: CallLink, options: { apiKey?: string; origin?: string; ca?: string; layers?: JoinLayers; rate?: number; capacity?: number } = {}): Promise<RawClient> {
  const sender = randomSenderId();
  const line = await deriveLineId(link.leafBytes!);
  const ws = new WebSocket(link.websocketUrl, { perMessageDeflate: false, headers: options.origin ? { Origin: options.origin } : {}, ca: options.ca });
  const messages: Record<string, unknown>[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const frames = { count: 0 };
  ws.on('message', (data, isBinary) => {
    if (isBinary) frames.count++;
    else messages.push(JSON.parse(data.toString()));
  });
  await new Promise<void>((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('error', reject);
  });
  ws.send(encodeJoin(options.apiKey ?? link.apiKey, line, sender, options.rate ?? STUDIO_SAMPLE_RATE, { layers: options.layers, capacity: options.capacity ?? link.capacity }));
  return { ws, messages, frames, closed, sender, line };
}

export async function waitFor<T>(probe: () => T | undefined | false, timeoutMs: number, what: string): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
