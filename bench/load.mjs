// Load generator: PEERS full-rate peers in 1:1 lines against a websocket URL, for SECONDS after
// WARMUP seconds. Frames are shaped like encrypted full-rate frames (4,032 bytes: level, SFrame
// header with the peer's own 6-byte KID, payload, tag), 100 per second per peer.
// The warm-up frames are sent like the others but not counted (each frame carries its number):
// the first second of a fresh generator process is spent compiling its own hot code on cores it
// shares with the server, which measured the generator's start, not the server.
// Each frame also carries its send time, so the generator measures each frame's way through the
// server itself (the same measure for every configuration, the bare relay included), and it
// reports its own CPU over the measured window, so that a generator bottleneck shows as such.
// run.mjs starts several of these processes for one step when one cannot drive it.
// Prints {"warm":true} when the measured window starts, then one JSON line of figures.
import WebSocket from 'ws';
import { paceFrames } from './generator.mjs';

const url = process.env.URL;
const apiKey = process.env.APIKEY ?? '';
const peers = Number(process.env.PEERS);
const seconds = Number(process.env.SECONDS ?? 5);
const warmup = Number(process.env.WARMUP ?? 1);
const SEQ_OFFSET = 8;
/** The send time (performance.timeOrigin + now, ms, float64), where the ciphertext would be. */
const SENT_AT_OFFSET = 12;
/** Latency histogram: 0.1 ms bins up to 1 s. */
const LATENCY_BIN_MS = 0.1;
const latency = new Uint32Array(10_000);
const clock = () => performance.timeOrigin + performance.now();
const firstCounted = warmup * 100;
const FRAME_BYTES = 4032;
const run = Math.random().toString(36).slice(2, 8);

function lineId(pair) {
  return (`b${run}x${pair}` + 'A'.repeat(22)).slice(0, 22);
}

const sockets = [];
let joined = 0;
const stats = { sent: 0, received: 0, refused: 0 };
const allJoined = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`only ${joined} of ${peers} peers joined`)), 30_000);
  for (let i = 0; i < peers; i++) {
    const sender = (0x100000000000 + i * 7919 + Math.floor(Math.random() * 1e6)).toString(16).slice(0, 12);
    const frame = Buffer.alloc(FRAME_BYTES, i & 0xff);
    frame[0] = 30;
    frame[1] = 0x80 | (5 << 4) | 0x08 | 3;
    Buffer.from(sender, 'hex').copy(frame, 2);
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'join', v: 1, apikey: apiKey, line: lineId(i >> 1), sender, rate: 200000 })));
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        if (data.readUInt32BE(SEQ_OFFSET) >= firstCounted) {
          stats.received++;
          latency[Math.min(latency.length - 1, Math.floor((clock() - data.readDoubleLE(SENT_AT_OFFSET)) / LATENCY_BIN_MS))]++;
        }
        return;
      }
      const msg = JSON.parse(data.toString());
      if (msg.type === 'joined' && ++joined === peers) {
        clearTimeout(timer);
        resolve();
      }
    });
    ws.on('close', (code) => code !== 1000 && code !== 1005 && stats.refused++);
    ws.on('error', () => undefined);
    sockets.push({ ws, frame });
  }
});

await allJoined;
// Real time, each peer on its own phase (generator.mjs).
const { elapsed, cpuSeconds } = await paceFrames({
  peers,
  warmup,
  seconds,
  send(i, n) {
    const s = sockets[i];
    if (s.ws.readyState !== 1) return;
    s.frame.writeUInt32BE(n, SEQ_OFFSET);
    s.frame.writeDoubleLE(clock(), SENT_AT_OFFSET);
    s.ws.send(s.frame);
    if (n >= firstCounted) stats.sent++;
  },
});
for (const s of sockets) s.ws.terminate();
process.stdout.write(JSON.stringify({ peers, ...stats, seconds: elapsed, lagging: elapsed - seconds - 1, cpuSeconds, latencyBinMs: LATENCY_BIN_MS, latency: [...latency] }) + '\n');
