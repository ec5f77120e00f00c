// k6 certification of a Studioline deployment: peers in 1:1 lines send frames of the size and rate
// of encrypted full-rate PCM (about 4 kB, 100 per second, 3.2 Mbit/s) and measure what arrives.
//
//   k6 run -e TARGET=ws://127.0.0.1:7777 -e APIKEY=... -e PEERS=10 -e DURATION=20 loadtest/studioline.js
//
// SCENARIO: certify (default), over-budget (peer 1 sends at FLOOD_BPS, 10 Mbit/s: it must be
// throttled to the budget while its partner and every other line are unaffected), join-storm (all
// peers join at once). Frames carry a sequence number and a send time in place of ciphertext: the
// server cannot tell (it never decrypts), and the peers can measure loss and latency.
import { WebSocket } from 'k6/websockets';
import { Counter, Rate, Trend } from 'k6/metrics';
import { certificateHtml } from './lib/certificate.js';

const TARGET = (__ENV.TARGET || 'ws://127.0.0.1:7777').replace(/^http/, 'ws').replace(/\/$/, '');
const APIKEY = __ENV.APIKEY || '';
const PEERS = 2 * Math.ceil(Number(__ENV.PEERS || 10) / 2);
const DURATION = Number(__ENV.DURATION || 20);
const SCENARIO = __ENV.SCENARIO || 'certify';
const BUDGET_BPS = Number(__ENV.BUDGET_BPS || 7000000);
const FLOOD_BPS = Number(__ENV.FLOOD_BPS || 10000000);
const LATENCY_P99_MS = Number(__ENV.LATENCY_P99_MS || 50);
const FRAME_BYTES = Number(__ENV.FRAME_BYTES || 4032);
const OUT = __ENV.OUT || '.';

const delivered = new Rate('delivered');
const latency = new Trend('frame_latency', true);
const rxBitrate = new Trend('peer_rx_bitrate');
const joinTime = new Trend('join_time', true);
const framesSent = new Counter('frames_sent');
const framesReceived = new Counter('frames_received');

export const options = {
  scenarios: {
    peers: { executor: 'per-vu-iterations', vus: PEERS, iterations: 1, maxDuration: `${DURATION + 60}s` },
  },
  thresholds: {
    'delivered{role:normal}': ['rate>=0.999'],
    'peer_rx_bitrate': [`max<=${BUDGET_BPS * 1.02}`],
    'frame_latency': [`p(99)<${LATENCY_P99_MS}`],
    ...(SCENARIO === 'over-budget'
      ? {
          // The partner of the flooder receives the budget's worth, no more, and not much less.
          'peer_rx_bitrate{role:partner}': [`max<=${BUDGET_BPS * 1.02}`, `min>=${BUDGET_BPS * 0.9}`],
          'delivered{role:flooder}': ['rate>=0.999'],
        }
      : {}),
    ...(SCENARIO === 'join-storm' ? { join_time: ['p(95)<2000'] } : {}),
  },
  summaryTrendStats: ['min', 'avg', 'med', 'p(95)', 'p(99)', 'max'],
};

/** One id for the whole run (setup runs once), so that the two peers of a pair share their line. */
export function setup() {
  return { run: __ENV.RUN_ID || String(Date.now() % 1e8) };
}

function lineId(run, pair) {
  const text = `k6${run}x${pair}`;
  return (text + 'AAAAAAAAAAAAAAAAAAAAAA').slice(0, 22).replace(/[^A-Za-z0-9_-]/g, 'A');
}

function randomSender() {
  let hex = '';
  for (let i = 0; i < 12; i++) hex += '0123456789abcdef'[Math.floor(Math.random() * 16)];
  return hex.replace(/^0/, '1');
}

/** A wire frame shaped like SFrame: level, config (6-byte KID, 4-byte CTR), KID, CTR, then seq and send time, padding, tag. */
function frame(senderHex, seq) {
  const buf = new ArrayBuffer(FRAME_BYTES);
  const b = new Uint8Array(buf);
  const v = new DataView(buf);
  b[0] = 30;
  b[1] = 0x80 | (5 << 4) | 0x08 | 3;
  for (let i = 0; i < 6; i++) b[2 + i] = parseInt(senderHex.slice(i * 2, i * 2 + 2), 16);
  v.setUint32(8, seq);
  v.setFloat64(12, Date.now());
  return buf;
}

export default function (data) {
  const vu = __VU; // 1-based
  const pair = Math.ceil(vu / 2);
  const role = SCENARIO === 'over-budget' && pair === 1 ? (vu === 1 ? 'flooder' : 'partner') : 'normal';
  const rateBps = role === 'flooder' ? FLOOD_BPS : 100 * FRAME_BYTES * 8;
  const sender = randomSender();
  const tags = { role };
  const ws = new WebSocket(`${TARGET}/ws`);
  ws.binaryType = 'arraybuffer';
  const opened = Date.now();
  let joined = false;
  let started = 0;
  let sent = 0;
  let received = 0;
  let bytesReceived = 0;
  let firstRx = 0;
  let lastRx = 0;
  let maxSeq = -1;
  let timer;

  const startSending = () => {
    if (started) return;
    started = Date.now();
    timer = setInterval(() => {
      const elapsed = (Date.now() - started) / 1000;
      if (elapsed >= DURATION) {
        clearInterval(timer);
        setTimeout(finish, 1000);
        return;
      }
      const due = Math.floor((elapsed * rateBps) / (FRAME_BYTES * 8)) + 1;
      for (; sent < due; sent++) ws.send(frame(sender, sent));
    }, 10);
  };

  const finish = () => {
    framesSent.add(sent, tags);
    framesReceived.add(received, tags);
    // Every sequence number up to the highest seen should have arrived.
    for (let i = 0; i < received; i++) delivered.add(true, tags);
    for (let i = received; i < maxSeq + 1; i++) delivered.add(false, tags);
    if (lastRx > firstRx) rxBitrate.add((bytesReceived * 8) / ((lastRx - firstRx) / 1000), tags);
    ws.close();
  };

  ws.onopen = () => ws.send(JSON.stringify({ type: 'join', v: 1, apikey: APIKEY, line: lineId(data.run, pair), sender, rate: 200000 }));
  ws.onmessage = (e) => {
    if (typeof e.data === 'string') {
      const msg = JSON.parse(e.data);
      if (msg.type === 'joined') {
        joined = true;
        joinTime.add(Date.now() - opened, tags);
        if (msg.peers.length) startSending();
      } else if (msg.type === 'peer_joined') startSending();
      else if (msg.type === 'error' && msg.code !== 'over_budget') console.warn(`peer ${vu}: ${msg.code}: ${msg.message}`);
      return;
    }
    const v = new DataView(e.data);
    const now = Date.now();
    received++;
    bytesReceived += e.data.byteLength;
    if (!firstRx) firstRx = now;
    lastRx = now;
    maxSeq = Math.max(maxSeq, v.getUint32(8));
    latency.add(now - v.getFloat64(12), tags);
  };
  ws.onclose = (e) => {
    if (!joined) console.error(`peer ${vu} was refused: ${e.code} ${e.reason}`);
  };
}

export function handleSummary(data) {
  const m = data.metrics;
  const value = (name, stat) => (m[name] && m[name].values[stat] !== undefined ? m[name].values[stat] : null);
  const thresholds = [];
  for (const [metric, def] of Object.entries(m)) {
    for (const [condition, result] of Object.entries(def.thresholds || {})) thresholds.push({ metric, condition, ok: result.ok });
  }
  const cert = {
    scenario: SCENARIO,
    target: TARGET,
    date: new Date().toISOString(),
    peers: PEERS,
    durationSeconds: DURATION,
    budgetBps: BUDGET_BPS,
    passed: thresholds.every((t) => t.ok),
    thresholds,
    client: {
      'frames sent': value('frames_sent', 'count'),
      'frames received': value('frames_received', 'count'),
      'delivered (share of frames)': value('delivered', 'rate'),
      'latency p50 (ms)': value('frame_latency', 'med'),
      'latency p95 (ms)': value('frame_latency', 'p(95)'),
      'latency p99 (ms)': value('frame_latency', 'p(99)'),
      'received bitrate per peer, min (bit/s)': value('peer_rx_bitrate', 'min'),
      'received bitrate per peer, avg (bit/s)': value('peer_rx_bitrate', 'avg'),
      'received bitrate per peer, max (bit/s)': value('peer_rx_bitrate', 'max'),
      'join time p95 (ms)': value('join_time', 'p(95)'),
    },
  };
  const summary = [
    `studioline ${SCENARIO}: ${cert.passed ? 'PASSED' : 'FAILED'} (${PEERS} peers, ${DURATION} s, ${TARGET})`,
    ...thresholds.map((t) => `  ${t.ok ? 'ok  ' : 'FAIL'} ${t.metric} ${t.condition}`),
    ...Object.entries(cert.client).map(([k, v]) => `  ${k}: ${v === null ? '-' : Math.round(v * 1000) / 1000}`),
  ].join('\n');
  return {
    stdout: summary + '\n',
    [`${OUT}/certificate.json`]: JSON.stringify(cert, null, 2),
    [`${OUT}/certificate.html`]: certificateHtml(cert),
  };
}
