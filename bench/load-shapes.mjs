// Load generator for the layered shapes (bench/shapes.mjs): PEERS peers in lines of LINE_PEERS,
// every one of them speaking at the same level, for SECONDS after WARMUP seconds.
//   SHAPE=group   every peer is full rate: it sends the full layer and the compact layer beside it
//                 (as the page and `studioline peer` do) and receives the full layer; the relay
//                 forwards the loudest N (RELAY_MAX_SPEAKERS, 2) of each line to each listener.
//   SHAPE=layers  every other member of a line is mobile (`mobile=1`): it sends and receives only
//                 the compact layer; the others are full-rate peers as above.
// Full-layer frames are shaped like load.mjs's (4,032 bytes, the SFrame counter in clear, the send
// time where the ciphertext would be): sealing 4 kB per frame would cost the generator more than
// the servers. Compact frames are REAL: Opus packets from libopus at the compact layer's setting,
// each sealed with SFrame under the peer's own compact KID (layer x 2^48 + sender). Encoding Opus
// for hundreds of simulated peers would make this process the bottleneck, so it encodes a short
// loop of packets once (LOOP_FRAMES of a tone) and every peer re-seals that loop, frame by frame,
// with its own key and counter: on the wire each compact frame is what a real sender's is.
// Receivers never decrypt (the server cannot either): they read each frame's KID and counter from
// the SFrame header, count frames and bytes per layer, the streams each receiver gets, and the
// gaps in each stream's counters (frames lost). Prints {"warm":true} when the measured window
// starts, then one JSON line of figures.
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { paceFrames } from './generator.mjs';
import { COMPACT_FRAME_SAMPLES, FrameSealer, LAYER_COMPACT, encodeOpusFrame } from '@studioline/protocol';
import { useNodeCrypto } from '@studioline/protocol/node';
import { nodeOpusCodec } from '@studioline/client';

const url = process.env.URL;
const apiKey = process.env.APIKEY ?? '';
const peers = Number(process.env.PEERS);
const linePeers = Number(process.env.LINE_PEERS ?? 8);
const shape = process.env.SHAPE ?? 'group';
const seconds = Number(process.env.SECONDS ?? 5);
const warmup = Number(process.env.WARMUP ?? 1);
/** Every frame's level (RFC 6464: 30 is -30 dBov, well above the relay's active level): all speak alike. */
const LEVEL = 30;
/** 0.5 s of Opus, re-sealed in a loop. */
const LOOP_FRAMES = 50;
const FULL_FRAME_BYTES = 4032;
const SENT_AT_OFFSET = 12;
/** Send times of compact frames, by counter, per peer (the counter is not in clear in a way that carries a time). */
const RING = 512;
const LATENCY_BIN_MS = 0.1;
const latency = new Uint32Array(10_000);
const clock = () => performance.timeOrigin + performance.now();
const firstCounted = warmup * 100;
const run = Math.random().toString(36).slice(2, 8);
const isMobile = (i) => shape === 'layers' && (i % linePeers) % 2 === 1;

if (!url || !Number.isInteger(peers) || peers % linePeers !== 0) throw new Error(`PEERS (${peers}) must be whole lines of LINE_PEERS (${linePeers})`);
useNodeCrypto();

/** The loop of compact plaintexts: a 440 Hz tone, encoded once at the compact layer's setting. */
async function opusLoop() {
  await nodeOpusCodec.prepare();
  const packets = [];
  let failed;
  const encoder = nodeOpusCodec.encoder((p) => packets.push(encodeOpusFrame(p)), (err) => (failed = err));
  for (let f = 0; f < LOOP_FRAMES; f++) {
    const pcm = new Float32Array(COMPACT_FRAME_SAMPLES);
    for (let s = 0; s < pcm.length; s++) pcm[s] = 0.3 * Math.sin((2 * Math.PI * 440 * (f * COMPACT_FRAME_SAMPLES + s)) / 48_000);
    encoder.encode(pcm);
  }
  for (let i = 0; i < 100 && packets.length < LOOP_FRAMES && !failed; i++) await new Promise((r) => setTimeout(r, 10));
  encoder.close();
  if (failed || packets.length < LOOP_FRAMES) throw new Error(`Opus encoder: ${failed?.message ?? `${packets.length} of ${LOOP_FRAMES} packets`}`);
  return packets;
}

const loop = await opusLoop();
const leaf = randomBytes(32);
const lineId = (line) => (`g${run}x${line}` + 'A'.repeat(22)).slice(0, 22);

/** Per receiver class: frames and bytes by layer (what its socket carried), streams by layer. */
const classes = { full: newClass(), mobile: newClass() };
function newClass() {
  return { receivers: 0, frames: [0, 0], bytes: [0, 0], gaps: [0, 0], streams: [[], []] };
}
const stats = { sentFull: 0, sentCompact: 0, received: 0, gaps: 0, refused: 0 };
const compactSentAt = new Float64Array(peers * RING);
const peerOfSender = new Map();

/** Reads [level][config][KID][CTR]: layer, sender (number) and counter of a wire frame, or undefined. */
function header(data) {
  const config = data[1];
  if (!(config & 0x80)) return undefined;
  const kidLen = ((config >> 4) & 7) + 1;
  let at = 2;
  const layer = kidLen === 7 ? data[at++] : 0;
  let sender = 0;
  for (; at < 2 + kidLen; at++) sender = sender * 256 + data[at];
  let ctr = config & 7;
  if (config & 0x08) {
    ctr = 0;
    for (const end = at + (config & 7) + 1; at < end; at++) ctr = ctr * 256 + data[at];
  }
  return { layer, sender, ctr };
}

const sockets = [];
let joined = 0;
const allJoined = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`only ${joined} of ${peers} peers joined`)), 30_000);
  for (let i = 0; i < peers; i++) {
    const mobile = isMobile(i);
    const senderId = BigInt(0x100000000000 + i * 7919 + Math.floor(Math.random() * 1e6));
    const sender = senderId.toString(16).slice(0, 12);
    peerOfSender.set(Number(senderId), i);
    let full;
    if (!mobile) {
      full = Buffer.alloc(FULL_FRAME_BYTES, i & 0xff);
      full[0] = LEVEL;
      full[1] = 0x80 | (5 << 4) | 0x08 | 3;
      Buffer.from(sender, 'hex').copy(full, 2);
    }
    const cls = classes[mobile ? 'mobile' : 'full'];
    cls.receivers++;
    /** Per stream (sender and layer) heard: its last counter and frames in the measured window. */
    const streams = new Map();
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('open', () =>
      ws.send(JSON.stringify({ type: 'join', v: 1, apikey: apiKey, line: lineId(Math.floor(i / linePeers)), sender, rate: mobile ? 48_000 : 200_000, layers: mobile ? ['compact'] : ['full', 'compact'], receive: mobile ? 'compact' : 'full', capacity: linePeers })),
    );
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        const msg = JSON.parse(data.toString());
        if (msg.type === 'joined' && ++joined === peers) {
          clearTimeout(timer);
          resolve();
        }
        return;
      }
      const h = header(data);
      if (!h || h.ctr < firstCounted) return;
      const key = h.sender * 2 + h.layer;
      let s = streams.get(key);
      if (!s) streams.set(key, (s = { layer: h.layer, last: h.ctr - 1, frames: 0 }));
      if (h.ctr > s.last + 1) {
        stats.gaps += h.ctr - s.last - 1;
        cls.gaps[h.layer] += h.ctr - s.last - 1;
      }
      s.last = Math.max(s.last, h.ctr);
      s.frames++;
      stats.received++;
      cls.frames[h.layer]++;
      // What the socket carried: the frame and the server's websocket header (2 bytes below 126, else 4).
      cls.bytes[h.layer] += data.length + (data.length < 126 ? 2 : 4);
      const sentAt = h.layer === 0 ? data.readDoubleLE(SENT_AT_OFFSET) : compactSentAt[peerOfSender.get(h.sender) * RING + (h.ctr % RING)];
      latency[Math.min(latency.length - 1, Math.floor((clock() - sentAt) / LATENCY_BIN_MS))]++;
    });
    ws.on('close', (code) => code !== 1000 && code !== 1005 && stats.refused++);
    ws.on('error', () => undefined);
    sockets.push({ ws, full, compact: FrameSealer.create(leaf, senderId, LAYER_COMPACT), streams, cls });
  }
});

for (const s of sockets) s.compact = await s.compact;
await allJoined;

// Real time, each peer on its own phase within the 10 ms period (generator.mjs).
const { elapsed, cpuSeconds } = await paceFrames({
  peers,
  warmup,
  seconds,
  send(i, n) {
    const s = sockets[i];
    if (s.ws.readyState !== 1) return;
    const counted = n >= firstCounted;
    if (s.full) {
      s.full.writeUInt32BE(n, 8);
      s.full.writeDoubleLE(clock(), SENT_AT_OFFSET);
      s.ws.send(s.full);
      if (counted) stats.sentFull++;
    }
    // The compact sealer's counter is this frame's number: one compact frame per 10 ms, from 0.
    compactSentAt[i * RING + (n % RING)] = clock();
    s.compact.seal(LEVEL, loop[n % LOOP_FRAMES]).then((wire) => s.ws.readyState === 1 && s.ws.send(wire));
    if (counted) stats.sentCompact++;
  },
});
for (const s of sockets) {
  s.ws.terminate();
  for (const layer of [0, 1]) s.cls.streams[layer].push([...s.streams.values()].filter((x) => x.layer === layer).length);
}
process.stdout.write(
  JSON.stringify({ peers, ...stats, classes, seconds: elapsed, lagging: elapsed - seconds - 1, cpuSeconds, latencyBinMs: LATENCY_BIN_MS, latency: [...latency] }) + '\n',
);
