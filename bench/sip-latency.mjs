// node bench/sip-latency.mjs: the SIP bridge's added latency, both ways (issue 17's closing figure).
// The embedded server runs as its own process; SIPp (a real SIP user agent) places the call with
// digest authentication; this process is the phone's RTP endpoint (G.711 µ-law, 20 ms packets) and
// a Node peer on the line, so both ends read one clock (performance.now()). Each side sends a short
// 1 kHz burst every 500 ms into silence; the other side stamps the frame where the burst begins.
//   phone -> peer: RTP sent -> bridge (decode, resample to 48 kHz, Opus) -> gateway -> relay ->
//                  peer (decrypt, Opus decode): what a listener's jitter buffer then gets.
//   peer -> phone: frame sent -> gateway -> relay -> bridge (decode, jitter buffer, resample,
//                  µ-law, 20 ms packet clock) -> RTP received: what the phone's own buffer gets.
// The bridge runs in this process (as the peer and the phone do): figures include their sharing one
// event loop. SIP_LATENCY_SECONDS (default 20).
import { createRequire } from 'node:module';
import { createSocket } from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { execFileSync, spawn } from 'node:child_process';
import { SERVER_FLAGS, startNode } from './processes.mjs';

const require = createRequire(import.meta.url);
const { NodePeer, prepareResamplers } = require('@studioline/client');
const { STUDIO_SAMPLE_RATE, COMPACT_SAMPLE_RATE, parseCallLink } = require('@studioline/protocol');
const { createLogger } = require('@studioline/server-kit');
const { SIP_BRIDGE_DEFAULTS, SipBridge, parseDirectory } = require('@studioline/sip-bridge');
const { mulaw } = require('alawmulaw');

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'packages/cli/bin/studioline.js');
const SECONDS = Number(process.env.SIP_LATENCY_SECONDS ?? 20);
const BURST_EVERY_MS = 500;
const BURST_MS = 40;
const log = (m) => process.stderr.write(`bench:sip-latency: ${m}\n`);
const home = mkdtempSync(join(tmpdir(), 'sl-sip-latency-'));

function tone(n, rate, startSample, on) {
  const out = new Int16Array(n);
  if (on) for (let i = 0; i < n; i++) out[i] = Math.round(12000 * Math.sin((2 * Math.PI * 1000 * (startSample + i)) / rate));
  return out;
}
function rms(pcm) {
  let s = 0;
  for (const v of pcm) s += v * v;
  return Math.sqrt(s / pcm.length);
}
/** Stamps the first loud frame after a quiet stretch. */
function onsetDetector(stamps) {
  let quiet = 0;
  return (pcm, at) => {
    if (rms(pcm) > 2000) {
      if (quiet >= 10) stamps.push(at);
      quiet = 0;
    } else quiet++;
  };
}
function pair(sent, heard) {
  const out = [];
  for (const h of heard) {
    const s = sent.filter((t) => t <= h && h - t < BURST_EVERY_MS * 0.8).pop();
    if (s !== undefined) out.push(h - s);
  }
  return out.sort((a, b) => a - b);
}
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];

const server = await startNode([...SERVER_FLAGS, cli, 'serve', '--port', '0'], { STUDIOLINE_HOME: home, HOME: home, ADMIN_PORT: '0' }, (t) => /Studioline is running at (http:\/\/\S+)/.exec(t)?.[1]);
const link = execFileSync(process.execPath, [cli, 'link', server.value], { env: { ...process.env, STUDIOLINE_HOME: home, HOME: home } }).toString().trim();
const logs = new PassThrough();
let rtpPort;
let ended;
let pending = '';
logs.on('data', (c) => {
  const lines = (pending + c.toString()).split('\n');
  pending = lines.pop();
  for (const line of lines) {
    if (line.includes('call answered')) rtpPort = JSON.parse(line).rtpPort;
    if (line.includes('call ended')) ended ??= JSON.parse(line);
  }
});
const password = 'bench-secret-1001';
const bridge = new SipBridge(
  { ...SIP_BRIDGE_DEFAULTS, sipPort: 0, metricsPort: 0, publicAddress: '127.0.0.1', directory: parseDirectory(JSON.stringify({ phones: { 1001: { password } }, lines: { 500: { link } } }), 'bench') },
  { logger: createLogger('sip-bridge', { destination: logs }) },
);
await bridge.start();
await prepareResamplers();

// The phone's RTP endpoint.
const phone = createSocket('udp4');
await new Promise((r) => phone.bind(0, '127.0.0.1', r));
const phoneSent = [];
const phoneHeard = [];
const atPhone = onsetDetector(phoneHeard);
phone.on('message', (m) => atPhone(mulaw.decode(m.subarray(12)), performance.now()));

// The peer on the line.
const peerSent = [];
const peerHeard = [];
const atPeer = onsetDetector(peerHeard);
const framesPerBurst = BURST_EVERY_MS / 10;
const burstFrames = BURST_MS / 10;
const source = {
  sampleRate: STUDIO_SAMPLE_RATE,
  // Stamped here, as the frame is handed to the call core: a frame counter would drift from the
  // source's index when a late sender skips frames (SendPacer) on a busy machine.
  frame: (i) => {
    if (i % framesPerBurst === 0) peerSent.push(performance.now());
    return tone(STUDIO_SAMPLE_RATE / 100, STUDIO_SAMPLE_RATE, i * (STUDIO_SAMPLE_RATE / 100), i % framesPerBurst < burstFrames);
  },
  compactFrame: (i) => tone(COMPACT_SAMPLE_RATE / 100, COMPACT_SAMPLE_RATE, i * 480, i % framesPerBurst < burstFrames),
};
const peer = new NodePeer({
  link: parseCallLink(link),
  source,
  seconds: SECONDS + 3,
  compact: true,
  peerTimeoutMs: 20_000,
  sinks: [{ push: (f) => atPeer(f.pcm, f.at) }],
});
const peerDone = peer.run();

// SIPp: INVITE (digest), 200, ACK, hold the call, BYE. Its SDP names this process's RTP port.
const sdp = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${phone.address().port} RTP/AVP 0`, 'a=ptime:20', ''].join('\r\n');
const msg = (method, cseq, extra, body = '') => `
  <send${method === 'INVITE' ? ' retrans="500"' : ''}><![CDATA[
${method} sip:500@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:1001@[remote_ip]:[remote_port]>;tag=[pid]b
To: <sip:500@[remote_ip]:[remote_port]>${method === 'INVITE' && cseq === 1 ? '' : '[peer_tag_param]'}
Call-ID: [call_id]
CSeq: ${cseq} ${method}
Contact: <sip:1001@[local_ip]:[local_port]>
${extra}Max-Forwards: 70
${body ? 'Content-Type: application/sdp\n' : ''}Content-Length: [len]

${body}
]]></send>`;
const scenario = `<?xml version="1.0" encoding="ISO-8859-1" ?><scenario name="latency">${msg('INVITE', 1, '', sdp)}
  <recv response="100" optional="true"/><recv response="401" auth="true"/>${msg('ACK', 1, '').replace('[peer_tag_param]', '')}${msg('INVITE', 2, '[authentication]\n', sdp).replace('[peer_tag_param]', '')}
  <recv response="100" optional="true"/><recv response="200" rrs="true"/>${msg('ACK', 2, '')}
  <pause milliseconds="${SECONDS * 1000}"/>${msg('BYE', 3, '')}<recv response="200"/></scenario>`;
writeFileSync(join(home, 'latency.xml'), scenario);
const sipp = spawn('sipp', [`127.0.0.1:${bridge.sipPort}`, '-sf', join(home, 'latency.xml'), '-i', '127.0.0.1', '-p', '0', '-m', '1', '-nostdin', '-au', '1001', '-ap', password, '-timeout', `${SECONDS + 20}s`, '-timeout_error'], { stdio: 'ignore' });
const sippDone = new Promise((r) => sipp.on('exit', r));

while (!rtpPort) await new Promise((r) => setTimeout(r, 10));
log(`call answered; bridge RTP port ${rtpPort}; measuring ${SECONDS} s`);
const start = performance.now();
let seq = 0;
let packets = 0;
await new Promise((resolve) => {
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - start) / 20);
    for (; packets <= due; packets++) {
      const on = packets % (BURST_EVERY_MS / 20) < BURST_MS / 20;
      if (packets % (BURST_EVERY_MS / 20) === 0) phoneSent.push(performance.now());
      const header = Buffer.from([0x80, 0, (seq >> 8) & 0xff, seq & 0xff, 0, 0, 0, 0, 0, 0, 0, 7]);
      header.writeUInt32BE((packets * 160) >>> 0, 4);
      seq = (seq + 1) & 0xffff;
      phone.send(Buffer.concat([header, Buffer.from(mulaw.encode(tone(160, 8000, packets * 160, on)))]), rtpPort, '127.0.0.1');
    }
    if (performance.now() - start > SECONDS * 1000) {
      clearInterval(timer);
      resolve();
    }
  }, 5);
});
const sippCode = await sippDone;
await peerDone.catch(() => undefined);
phone.close();
await bridge.destroy();
server.child.kill('SIGTERM');

const up = pair(phoneSent, peerHeard);
const down = pair(peerSent, phoneHeard);
const line = (name, xs) => `${name}: ${xs.length} bursts, p50 ${pct(xs, 50)?.toFixed(1)} ms, p95 ${pct(xs, 95)?.toFixed(1)} ms, max ${xs.at(-1)?.toFixed(1)} ms`;
console.log(line('phone -> peer (RTP sent to frame decoded at the peer)', up));
console.log(line('peer -> phone (frame sent to RTP received at the phone)', down));
console.log(`bursts sent by the phone ${phoneSent.length}, heard at the peer ${peerHeard.length}; sent by the peer ${peerSent.length}, heard at the phone ${phoneHeard.length}`);
console.log(`SIPp exit ${sippCode}; the bridge's jitter buffer toward the phone held frames ${ended?.jitterBufferMs?.join(', ')} ms on average`);
