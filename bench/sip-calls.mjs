// node bench/sip-calls.mjs: the SIP bridge's CPU per call, for "calls per core" (issue 17).
// The embedded server runs as its own process; SIPp (a real SIP user agent) places SIP_CALLS calls
// at once (digest authentication), each to its own line, and plays Debian's G.711 A-law pcap into
// each (about 7 s of 20 ms packets); this process runs the bridge alone and reads its CPU time over
// that window. Per call the bridge then decodes A-law, resamples 8 -> 48 kHz, encodes Opus for the
// line (10 ms frames, SFrame), and runs the phone's packet clock (jitter buffer, 48 -> 8 kHz, A-law,
// RTP). No peer sends on the lines, so the line-to-phone direction has nothing to decode: with
// peers add about 0.1-0.3 ms of Opus decoding per 10 ms frame per speaker.
//   SIP_CALLS (default 10).
import { createRequire } from 'node:module';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { execFileSync, spawn } from 'node:child_process';
import { SERVER_FLAGS, startNode } from './processes.mjs';
import { pcapCallScenario } from '../test/dist/helpers/sip-agents.js';

const require = createRequire(import.meta.url);
const { createLogger } = require('@studioline/server-kit');
const { SIP_BRIDGE_DEFAULTS, SipBridge, parseDirectory } = require('@studioline/sip-bridge');

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'packages/cli/bin/studioline.js');
const CALLS = Number(process.env.SIP_CALLS ?? 10);
const log = (m) => process.stderr.write(`bench:sip-calls: ${m}\n`);
const home = mkdtempSync(join(tmpdir(), 'sl-sip-calls-'));

const server = await startNode([...SERVER_FLAGS, cli, 'serve', '--port', '0'], { STUDIOLINE_HOME: home, HOME: home, ADMIN_PORT: '0', MAX_LINE_CAPACITY: '16' }, (t) => /Studioline is running at (http:\/\/\S+)/.exec(t)?.[1]);
const env = { ...process.env, STUDIOLINE_HOME: home, HOME: home };
const lines = {};
for (let i = 1; i <= CALLS; i++) lines[`l${i}`] = { link: execFileSync(process.execPath, [cli, 'link', server.value], { env }).toString().trim() };
const password = 'bench-secret-1001';
const logs = new PassThrough();
let answered = 0;
let ended = 0;
let pending = '';
logs.on('data', (c) => {
  const parts = (pending + c.toString()).split('\n');
  pending = parts.pop();
  for (const l of parts) {
    if (l.includes('call answered')) answered++;
    if (l.includes('call ended')) ended++;
  }
});
const bridge = new SipBridge(
  { ...SIP_BRIDGE_DEFAULTS, sipPort: 0, metricsPort: 0, publicAddress: '127.0.0.1', maxCalls: Math.max(CALLS, 50), rateLimit: 10_000, rateBurst: 10_000, directory: parseDirectory(JSON.stringify({ phones: { 1001: { password } }, lines }), 'bench') },
  { logger: createLogger('sip-bridge', { destination: logs }) },
);
await bridge.start();

const sdp = ['v=0', 'o=- 1 1 IN IP4 [media_ip]', 's=-', 'c=IN IP4 [media_ip]', 't=0 0', 'm=audio [media_port] RTP/AVP 8', 'a=rtpmap:8 PCMA/8000', ''].join('\r\n');
// The phones' SIPp scenario is the load test's (test/helpers/sip-agents.ts, built with the rest).
const scenario = pcapCallScenario(sdp, '/usr/share/sip-tester/g711a.pcap', 8000, '1001');
writeFileSync(join(home, 'calls.xml'), scenario);
const sipp = spawn('sipp', [`127.0.0.1:${bridge.sipPort}`, '-sf', join(home, 'calls.xml'), '-i', '127.0.0.1', '-mi', '127.0.0.1', '-p', '0', '-m', String(CALLS), '-l', String(CALLS), '-r', String(CALLS), '-rp', '1000', '-nostdin', '-au', '1001', '-ap', password, '-timeout', '60s', '-timeout_error'], { stdio: 'ignore' });
const sippDone = new Promise((r) => sipp.on('exit', r));

while (answered < CALLS) await new Promise((r) => setTimeout(r, 20));
// Measure the middle of the calls: all answered, audio flowing, none ended yet.
await new Promise((r) => setTimeout(r, 1000));
const c0 = process.cpuUsage();
const t0 = performance.now();
await new Promise((r) => setTimeout(r, 5000));
const cpu = process.cpuUsage(c0);
const wall = performance.now() - t0;
const stillUp = CALLS - ended;
const metrics = await bridge.registry.metrics();
const rtpIn = Number(/studioline_sip_rtp_packets_total\{direction="in"\} (\d+)/.exec(metrics)?.[1] ?? 0);
const sippCode = await sippDone;
await bridge.destroy();
server.child.kill('SIGTERM');
const cpuMsPerSecondPerCall = (cpu.user + cpu.system) / 1000 / (wall / 1000) / CALLS;
console.log(`${CALLS} calls at once (${stillUp} up through the window), ${rtpIn} RTP packets in from the phones`);
console.log(`bridge CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms over ${(wall / 1000).toFixed(1)} s: ${cpuMsPerSecondPerCall.toFixed(1)} ms of CPU per second per call, about ${Math.floor(1000 / cpuMsPerSecondPerCall)} calls per core`);
console.log(`SIPp exit ${sippCode}`);
