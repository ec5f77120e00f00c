/**
 * Issue 17: SIP_LOAD_CALLS (default 50) phone calls at once, held SIP_LOAD_SECONDS (default 60),
 * with their audio checked. SIPp places every call (digest authentication) to its own line, and
 * plays into each a G.711 µ-law RTP stream of a 700 Hz tone (a pcap this test writes); the
 * Studioline server runs as its own process. Checked: every call is answered and still up when
 * SIPp hangs up (each BYE answered 200, not 481); each call's RTP from the phone arrived and every
 * packet reached the line as 10 ms frames; Node peers listening on two of the lines hear the
 * phone's 700 Hz. The share of RTP that arrived and the bridge's CPU per call are reported
 * (diagnostics), not conditions: they measure the machine as much as the bridge.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { NodePeer, dominantFrequency, toneSource } from '@studioline/client';
import { STUDIO_SAMPLE_RATE, formatCallLink, generateLeaf, parseCallLink } from '@studioline/protocol';
import { createLogger, generateApiKey } from '@studioline/server-kit';
import { SIP_BRIDGE_DEFAULTS, SipBridge, parseDirectory } from '@studioline/sip-bridge';
import { metricValue } from './helpers/embedded.js';
import { ServiceProcess, startProcess } from './helpers/processes.js';
import { freeUdpPort, pcapCallScenario, requireSipAgents } from './helpers/sip-agents.js';

const CALLS = Number(process.env.SIP_LOAD_CALLS ?? 50);
const HOLD_S = Number(process.env.SIP_LOAD_SECONDS ?? 60);
const TONE_HZ = 700;
const PASSWORD = 'load-secret-1001';
const skip = requireSipAgents();

/** G.711 µ-law of one 16-bit sample (ITU-T G.711, the segment encoding). */
function mulaw(sample: number): number {
  const BIAS = 0x84;
  const sign = sample < 0 ? 0x80 : 0;
  let magnitude = Math.min(Math.abs(sample), 32_635) + BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (magnitude & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (magnitude >> (exponent + 3)) & 0x0f;
  magnitude = 0;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/**
 * A pcap (Ethernet, IPv4, UDP, RTP) of `seconds` of a tone as 20 ms G.711 µ-law packets: what
 * SIPp's play_pcap_audio sends into a call, to the address the SDP answer names.
 */
function tonePcap(file: string, hz: number, seconds: number): void {
  const packets = seconds * 50;
  const parts: Buffer[] = [];
  const global = Buffer.alloc(24);
  global.writeUInt32LE(0xa1b2c3d4, 0);
  global.writeUInt16LE(2, 4);
  global.writeUInt16LE(4, 6);
  global.writeUInt32LE(65_535, 16);
  global.writeUInt32LE(1, 20); // Ethernet
  parts.push(global);
  for (let p = 0; p < packets; p++) {
    const payload = Buffer.alloc(160);
    for (let i = 0; i < 160; i++) payload[i] = mulaw(Math.round(10_000 * Math.sin((2 * Math.PI * hz * (p * 160 + i)) / 8000)));
    const rtp = Buffer.alloc(12);
    rtp[0] = 0x80;
    rtp[1] = 0; // PCMU
    rtp.writeUInt16BE(p & 0xffff, 2);
    rtp.writeUInt32BE(p * 160, 4);
    rtp.writeUInt32BE(0x5151_0001, 8);
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(6000, 0);
    udp.writeUInt16BE(6002, 2);
    udp.writeUInt16BE(8 + 12 + 160, 4);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + 8 + 12 + 160, 2);
    ip[8] = 64;
    ip[9] = 17;
    ip.set([127, 0, 0, 1], 12);
    ip.set([127, 0, 0, 1], 16);
    const eth = Buffer.alloc(14);
    eth.writeUInt16BE(0x0800, 12);
    const frame = Buffer.concat([eth, ip, udp, rtp, payload]);
    const record = Buffer.alloc(16);
    const at = p * 20_000; // µs
    record.writeUInt32LE(Math.floor(at / 1e6), 0);
    record.writeUInt32LE(at % 1e6, 4);
    record.writeUInt32LE(frame.length, 8);
    record.writeUInt32LE(frame.length, 12);
    parts.push(record, frame);
  }
  writeFileSync(file, Buffer.concat(parts));
}

function scenario(pcap: string): string {
  const sdp = ['v=0', 'o=- 1 1 IN IP4 [media_ip]', 's=-', 'c=IN IP4 [media_ip]', 't=0 0', 'm=audio [media_port] RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', 'a=ptime:20', ''].join('\r\n');
  return pcapCallScenario(sdp, pcap, HOLD_S * 1000, '1001');
}

describe(`${CALLS} phone calls at once, held ${HOLD_S} s, audio checked`, { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sl-sip-load-'));
  const apiKey = generateApiKey();
  let server: ServiceProcess;
  let url: string;
  let bridge: SipBridge;
  const links: string[] = [];
  const ended: Record<string, number>[] = [];

  before(async () => {
    server = startProcess(['serve', '--port', '0'], {
      STUDIOLINE_HOME: dir,
      HOME: dir,
      ADMIN_PORT: '0',
      APIKEY: apiKey,
      LOG_LEVEL: 'warn',
      // The bridge joins every line from one address: its websockets count against the gateway's
      // per-address limits, which a deployment with a busy bridge raises the same way (README).
      UNAUTHENTICATED_PER_ADDRESS: String(CALLS + 10),
      SOCKETS_PER_ADDRESS: String(CALLS + 10),
    }, 'server');
    for (let waited = 0; !/Studioline is running at (http:\/\/\S+)/.test(server.output()); waited += 100) {
      assert.ok(waited < 30_000, `the server did not start: ${server.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    url = /Studioline is running at (http:\/\/\S+)/.exec(server.output())![1];
    const lines: Record<string, { link: string }> = {};
    for (let i = 1; i <= CALLS; i++) {
      links[i] = formatCallLink(url, apiKey, generateLeaf());
      lines[`l${i}`] = { link: links[i] };
    }
    const logs = new PassThrough();
    let pending = '';
    logs.on('data', (c: Buffer) => {
      const parts = (pending + c.toString()).split('\n');
      pending = parts.pop() ?? '';
      for (const l of parts) if (l.includes('"call ended"')) ended.push(JSON.parse(l));
    });
    const rtp = 44_000 + Math.floor(Math.random() * 5000);
    bridge = new SipBridge(
      {
        ...SIP_BRIDGE_DEFAULTS,
        host: '127.0.0.1',
        publicAddress: '127.0.0.1',
        sipPort: 0,
        metricsPort: 0,
        rtpPortMin: rtp,
        rtpPortMax: rtp + CALLS + 49,
        maxCalls: CALLS,
        lineJoinTimeoutMs: 30_000,
        // Every call comes from SIPp's one address, as from a PBX in front of the phones.
        rateLimit: 10_000,
        rateBurst: 10_000,
        directory: parseDirectory(JSON.stringify({ phones: { 1001: { password: PASSWORD } }, lines }), 'load directory'),
      },
      { logger: createLogger('sip-bridge', { destination: logs }) },
    );
    await bridge.start();
  });

  after(async () => {
    await bridge?.destroy();
    await server?.kill();
  });

  it('answers every call, keeps each up and its audio flowing to the line, and listeners hear the phones’ tone', { timeout: (HOLD_S + 120) * 1000 }, async (t) => {
    const pcap = join(dir, 'tone.pcap');
    tonePcap(pcap, TONE_HZ, HOLD_S + 2);
    writeFileSync(join(dir, 'load.xml'), scenario(pcap));
    const port = await freeUdpPort();
    const started = performance.now();
    const sipp = new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn('sipp', [`127.0.0.1:${bridge.sipPort}`, '-sf', join(dir, 'load.xml'), '-i', '127.0.0.1', '-mi', '127.0.0.1', '-p', String(port), '-m', String(CALLS), '-l', String(CALLS), '-r', String(CALLS), '-rp', '1000', '-nostdin', '-au', '1001', '-ap', PASSWORD, '-timeout', `${HOLD_S + 90}s`, '-timeout_error', '-trace_err', '-error_file', join(dir, 'load.err')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (c) => (output = (output + c).slice(-3000)));
      child.stderr.on('data', (c) => (output = (output + c).slice(-3000)));
      child.on('exit', (code) => resolve({ code, output }));
    });
    const answered = async () => metricValue(await bridge.registry.metrics(), 'studioline_sip_calls_total', { result: 'answered' });
    for (let waited = 0; (await answered()) < CALLS; waited += 200) {
      assert.ok(waited < 60_000, `only ${await answered()} of ${CALLS} calls answered within 60 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const allUpAfter = performance.now() - started;
    // The bridge's CPU (this process, before the listeners start) over 5 s with every call up: a
    // figure to report, not a condition (the machine is shared; BENCHMARKS.md).
    await new Promise((r) => setTimeout(r, 1000));
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    await new Promise((r) => setTimeout(r, 5000));
    const cpu = process.cpuUsage(cpu0);
    const perCall = (cpu.user + cpu.system) / 1000 / ((performance.now() - wall0) / 1000) / CALLS;
    t.diagnostic(`bridge CPU ${perCall.toFixed(1)} ms per second per call: about ${Math.floor(1000 / perCall)} calls per core`);
    // Two listeners, on the first and the last call's lines, while every call is up.
    const listen = (i: number) =>
      new NodePeer({ link: parseCallLink(links[i]), source: toneSource(440, STUDIO_SAMPLE_RATE), listenOnly: true, seconds: 10, record: true, compact: true, peerTimeoutMs: 20_000 }).run();
    const heard = await Promise.all([listen(1), listen(CALLS)]);
    const result = await sipp;
    t.diagnostic(`all ${CALLS} calls up ${(allUpAfter / 1000).toFixed(1)} s after the first INVITE`);
    assert.equal(result.code, 0, `SIPp: every call answered, held and hung up with BYE answered 200: ${result.output}`);

    for (let waited = 0; ended.length < CALLS && waited < 10_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
    assert.equal(ended.length, CALLS, 'every call ended (by the phone’s BYE)');
    const expectedPackets = HOLD_S * 50;
    const worst = ended.reduce((w, c) => (c.rtpReceived < w.rtpReceived ? c : w));
    t.diagnostic(`fewest RTP packets in a call ${worst.rtpReceived} (${expectedPackets} sent over the hold), frames to its line ${worst.framesToLine}; lost in all ${ended.reduce((s, c) => s + c.rtpLost, 0)}`);
    // How much of the phones' RTP arrived depends on the machine keeping up (SIPp's players and this
    // process share it): reported above, not a condition. What the bridge did with what arrived is:
    // every packet became two 10 ms frames on the line (a lost one, silence of its length), but for
    // the last one, which the hang-up may catch half-way.
    for (const c of ended) {
      assert.ok(c.rtpReceived > 0, `call ${c.callId}: the phone's RTP arrived`);
      assert.ok(c.framesToLine >= 2 * c.rtpReceived - 2, `call ${c.callId}: ${c.rtpReceived} RTP packets became ${c.framesToLine} 10 ms frames to the line`);
    }
    for (const [n, summary] of heard.entries()) {
      // The bridge is one sender; a reconnect of its leg (a new sender id) would make it two tracks.
      const tracks = summary.tracks ?? [];
      const seconds = tracks.reduce((sum, x) => sum + x.samples.length / x.sampleRate, 0);
      assert.ok(seconds > 2, `listener ${n} heard the phone (at least 2 s of its 10; a listener in this process falls behind on a loaded machine): ${JSON.stringify({ ...summary, tracks: tracks.map((x) => x.samples.length / x.sampleRate), recording: undefined })}`);
      const longest = tracks.reduce((a, b) => (b.samples.length > a.samples.length ? b : a));
      const hz = dominantFrequency(longest.samples, longest.sampleRate);
      assert.ok(Math.abs(hz - TONE_HZ) < 3, `listener ${n} hears the phone's ${TONE_HZ} Hz, got ${hz}`);
    }
    assert.equal(metricValue(await bridge.registry.metrics(), 'studioline_sip_active_calls'), 0);
  });
});
