/**
 * The over-budget sender: a peer that sends real, SFrame-sealed full-rate frames faster than real
 * time (e.g. 10 Mbit/s against a 7 Mbit/s budget), the way a broken or hostile client would. The
 * Node peer sends one frame per 10 ms by design, so this one is composed from the protocol's own
 * pieces. It also receives and opens its partner's frames: throttling one direction must not
 * harm the other.
 */
import {
  CallLink,
  FrameOpener,
  FrameSealer,
  STUDIO_SAMPLE_RATE,
  audioLevel,
  deriveLineId,
  encodeAudioFrame,
  encodeJoin,
  parseServerMessage,
  randomSenderId,
} from '@studioline/protocol';
import { AudioSource } from '@studioline/client';
import WebSocket from 'ws';

export interface FloodOptions {
  link: CallLink;
  source: AudioSource;
  bps: number;
  sendMs: number;
  ca?: string;
  onSent(sender: bigint, ctr: bigint, at: number): void;
  onAudio(sender: bigint, ctr: bigint, at: number): void;
  onJoined(): void;
}

export interface FloodSummary {
  sent: number;
  bytesSent: number;
  received: number;
  bytesReceived: number;
  decryptFailed: number;
  replayed: number;
  malformed: number;
  unsent: number;
  warnings: Record<string, number>;
}

const MAX_BUFFERED_BYTES = 512 * 1024;
const TICK_MS = 5;
const LINGER_MS = 1000;
const JOIN_TIMEOUT_MS = 30_000;

function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]).finally(() => clearTimeout(timer));
}

export async function flood(o: FloodOptions): Promise<FloodSummary> {
  const leaf = o.link.leafBytes as Uint8Array;
  const senderId = randomSenderId();
  const sealer = await FrameSealer.create(leaf, senderId);
  const opener = new FrameOpener(leaf);
  const lineId = await deriveLineId(leaf);
  const plaintext = encodeAudioFrame(o.source.sampleRate, o.source.frame(0));
  const level = audioLevel(o.source.frame(0));
  const summary: FloodSummary = { sent: 0, bytesSent: 0, received: 0, bytesReceived: 0, decryptFailed: 0, replayed: 0, malformed: 0, unsent: 0, warnings: {} };
  const ws = new WebSocket(o.link.websocketUrl, { perMessageDeflate: false, ca: o.ca });
  let partnerHere!: () => void;
  const partner = new Promise<void>((resolve) => (partnerHere = resolve));
  const joined = new Promise<void>((resolve, reject) => {
    ws.on('open', () => ws.send(encodeJoin(o.link.apiKey, lineId, senderId, STUDIO_SAMPLE_RATE)));
    ws.on('error', (err) => reject(new Error(`over-budget sender: ${err.message}`)));
    ws.on('close', (code, reason) => reject(new Error(`over-budget sender: closed ${code} ${reason.toString()}`)));
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        const frame = data as Buffer;
        summary.bytesReceived += frame.length;
        void opener.open(frame).then((opened) => {
          if (typeof opened !== 'string') o.onAudio(opened.senderId, opened.ctr, performance.now());
        });
        return;
      }
      const msg = parseServerMessage(data.toString());
      if (msg?.type === 'joined') {
        o.onJoined();
        resolve();
        if (msg.peers.length) partnerHere();
      } else if (msg?.type === 'peer_joined') partnerHere();
      else if (msg?.type === 'error') summary.warnings[msg.code] = (summary.warnings[msg.code] ?? 0) + 1;
    });
  });
  try {
    await within(joined, JOIN_TIMEOUT_MS, 'over-budget sender: no answer to its join');
    await within(partner, JOIN_TIMEOUT_MS, 'over-budget sender: its partner never joined');
  } catch (err) {
    ws.terminate();
    throw err;
  }
  // Paced by bytes: whatever the header sizes, the wire carries o.bps on average.
  const start = performance.now();
  let skippedBytes = 0;
  while (performance.now() - start < o.sendMs && ws.readyState === WebSocket.OPEN) {
    const dueBytes = (((performance.now() - start) / 1000) * o.bps) / 8;
    while (summary.bytesSent + skippedBytes < dueBytes) {
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        summary.unsent++;
        skippedBytes += plaintext.length;
        continue;
      }
      const ctr = sealer.sealed;
      const wire = await sealer.seal(level, plaintext);
      ws.send(wire);
      o.onSent(senderId, ctr, performance.now());
      summary.sent++;
      summary.bytesSent += wire.length;
    }
    await new Promise((r) => setTimeout(r, TICK_MS));
  }
  await new Promise((r) => setTimeout(r, LINGER_MS));
  ws.removeAllListeners('close');
  ws.close(1000, 'done');
  Object.assign(summary, { received: opener.stats.received, decryptFailed: opener.stats.decryptFailed, replayed: opener.stats.replayed, malformed: opener.stats.malformed });
  return summary;
}
