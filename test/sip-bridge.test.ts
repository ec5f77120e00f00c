/**
 * The SIP bridge against real SIP user agents (issue 17, first slice): SIPp registers with digest
 * authentication (and is refused with a wrong password), is refused calls the bridge cannot serve;
 * baresip, as a desk phone, dials a line's number and talks with a Node peer on that line, each
 * hearing the other's tone at its frequency.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createSocket } from 'node:dgram';
import { AddressInfo, Socket, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { NodePeer, decodeWav, dominantFrequency, toneSource } from '@studioline/client';
import { STUDIO_SAMPLE_RATE, formatCallLink, generateLeaf, parseCallLink } from '@studioline/protocol';
import { createLogger } from '@studioline/server-kit';
import { SIP_BRIDGE_DEFAULTS, SipBridge, parseDirectory } from '@studioline/sip-bridge';
import { Embedded, metricValue, startEmbedded } from './helpers/embedded.js';
import { tonesHeard } from './helpers/tones.js';
import { answeredCallScenario, dtmfScenario, freeUdpPort, holdResumeScenario, inviteScenario, registerScenario, reinviteScenario, requestScenario, requireSipAgents, runSipp, runSoftphone } from './helpers/sip-agents.js';

const PHONE = { user: '1001', password: 'phone-secret-1001' };
/** One line per test that calls, so that a call's end never overlaps the next call's start. */
const LINE_NUMBER = '500';
const PCMU_LINE = '510';
const OPUS_LINE = '520';
/** A group line (peers=4): the phone and two Node peers. */
const GROUP_LINE = '530';
const SECOND_PEER_TONE_HZ = 600;
/** A line whose gateway never answers. */
const STUCK_NUMBER = '501';
const JOIN_TIMEOUT_MS = 1500;
const PHONE_TONE_HZ = 700;
const PEER_TONE_HZ = 1000;

function rms(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / Math.max(1, samples.length));
}

/** A tone as a 16-bit WAV, the same on every channel (baresip's aufile wants the codec's rate and channels). */
function toneWav(file: string, frequency: number, rate: number, channels: number, seconds: number): void {
  const frames = rate * seconds;
  const data = Buffer.alloc(frames * channels * 2);
  for (let i = 0; i < frames; i++) {
    const v = Math.round(12_000 * Math.sin((2 * Math.PI * frequency * i) / rate));
    for (let c = 0; c < channels; c++) data.writeInt16LE(v, (i * channels + c) * 2);
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * channels * 2, 28);
  header.writeUInt16LE(channels * 2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  writeFileSync(file, Buffer.concat([header, data]));
}

const skip = requireSipAgents();

describe('SIP bridge with real user agents (SIPp, baresip)', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sl-sip-bridge-'));
  let server: Embedded;
  let bridge: SipBridge;
  let link: string;
  const links: Record<string, string> = {};
  // The bridge's log, for the failure messages of the calls.
  let bridgeLogText = '';
  const bridgeLog = new PassThrough();
  bridgeLog.on('data', (c: Buffer) => (bridgeLogText += c.toString()));
  // A gateway that accepts connections and never answers: a line that cannot be joined.
  const sockets = new Set<Socket>();
  const blackHole = createServer((s) => sockets.add(s));

  before(async () => {
    server = await startEmbedded();
    link = formatCallLink(server.url, server.apiKey, generateLeaf());
    for (const n of [PCMU_LINE, OPUS_LINE]) links[n] = formatCallLink(server.url, server.apiKey, generateLeaf());
    links[GROUP_LINE] = formatCallLink(server.url, server.apiKey, generateLeaf(), false, 4);
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const stuck = formatCallLink(`http://127.0.0.1:${(blackHole.address() as AddressInfo).port}`, server.apiKey, generateLeaf());
    const directory = parseDirectory(
      JSON.stringify({ phones: { [PHONE.user]: { password: PHONE.password } }, lines: { [LINE_NUMBER]: { link }, [STUCK_NUMBER]: { link: stuck }, [PCMU_LINE]: { link: links[PCMU_LINE] }, [OPUS_LINE]: { link: links[OPUS_LINE] }, [GROUP_LINE]: { link: links[GROUP_LINE] } } }),
      'test directory',
    );
    const rtpBase = 40_000 + Math.floor(Math.random() * 10_000);
    bridge = new SipBridge(
      { ...SIP_BRIDGE_DEFAULTS, host: '127.0.0.1', publicAddress: '127.0.0.1', sipPort: 0, metricsPort: 0, rtpPortMin: rtpBase, rtpPortMax: rtpBase + 99, lineJoinTimeoutMs: JOIN_TIMEOUT_MS, directory },
      { logger: createLogger('sip-bridge', { destination: bridgeLog }) },
    );
    await bridge.start();
  });

  after(async () => {
    await bridge?.destroy();
    await server?.stop();
    for (const s of sockets) s.destroy();
    blackHole.close();
  });

  it('registers a phone with digest authentication over UDP and TCP, and refuses a wrong password with 403', async () => {
    const udp = await runSipp(dir, 'register-udp', registerScenario(200), bridge.sipPort, ['-s', PHONE.user, '-au', PHONE.user, '-ap', PHONE.password, '-t', 'u1']);
    assert.equal(udp.code, 0, `SIPp REGISTER over UDP: ${udp.output}`);
    const tcp = await runSipp(dir, 'register-tcp', registerScenario(200), bridge.sipPort, ['-s', PHONE.user, '-au', PHONE.user, '-ap', PHONE.password, '-t', 't1']);
    assert.equal(tcp.code, 0, `SIPp REGISTER over TCP: ${tcp.output}`);
    const wrong = await runSipp(dir, 'register-wrong', registerScenario(403), bridge.sipPort, ['-s', PHONE.user, '-au', PHONE.user, '-ap', 'not-the-password', '-t', 'u1']);
    assert.equal(wrong.code, 0, `SIPp REGISTER with a wrong password is refused with 403: ${wrong.output}`);
    const unknown = await runSipp(dir, 'register-unknown', registerScenario(403), bridge.sipPort, ['-s', '9999', '-au', '9999', '-ap', PHONE.password, '-t', 'u1']);
    assert.equal(unknown.code, 0, `SIPp REGISTER of an unknown account is refused with 403: ${unknown.output}`);

    const metrics = await bridge.registry.metrics();
    assert.equal(metricValue(metrics, 'studioline_sip_registrations_total', { result: 'ok' }), 2);
    assert.equal(metricValue(metrics, 'studioline_sip_registrations_total', { result: 'refused' }), 2);
    assert.equal(metricValue(metrics, 'studioline_sip_registered_phones'), 1);
    const ops = await fetch(`${bridge.opsUrl}/readyz`);
    assert.equal(ops.status, 200);
  });

  it('survives malformed SIP over UDP and TCP (no crash, nothing answered wrongly) and keeps answering OPTIONS, 405 for other methods', async () => {
    const junk = [
      'garbage',
      'INVITE\r\n\r\n',
      'INVITE sip:500@127.0.0.1 SIP/2.0\r\nVia: nonsense\r\n\r\n',
      'REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\nCSeq: x\r\n\r\n',
      'INVITE sip:500@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKy\r\nFrom: <sip:1001@127.0.0.1>;tag=1\r\nCall-ID: junk-1\r\nCSeq: 1 INVITE\r\nContent-Length: 99999\r\n\r\nv=0',
      Buffer.from(Array.from({ length: 1500 }, (_, i) => (i * 131) % 256)).toString('latin1'),
    ];
    const udp = createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    for (const m of junk) udp.send(Buffer.from(m, 'latin1'), bridge.sipPort, '127.0.0.1');
    const tcp = connect(bridge.sipPort, '127.0.0.1');
    await new Promise((r) => tcp.once('connect', r));
    tcp.on('error', () => undefined);
    // Headers past the stack's limit (16 KiB): the stream is closed, not buffered without end.
    tcp.write(junk.slice(0, 5).join('') + 'X-Long: ' + 'a'.repeat(20_000) + '\r\n\r\n');
    await new Promise((r) => setTimeout(r, 300));
    udp.close();
    tcp.destroy();
    const options = await runSipp(dir, 'options', requestScenario('OPTIONS', 200), bridge.sipPort, ['-s', PHONE.user, '-t', 'u1']);
    assert.equal(options.code, 0, `OPTIONS after the junk: 200: ${options.output}`);
    const message = await runSipp(dir, 'message', requestScenario('MESSAGE', 405), bridge.sipPort, ['-s', PHONE.user, '-t', 'u1']);
    assert.equal(message.code, 0, `MESSAGE: 405: ${message.output}`);
    const ready = await fetch(`${bridge.opsUrl}/readyz`);
    assert.equal(ready.status, 200);
  });

  it('refuses an address that failed SIP_AUTH_FAIL_LIMIT times with 403 unchecked, the right password too, until its window ends', async () => {
    const strict = new SipBridge({ ...bridge.config, sipPort: 0, metricsPort: 0, authFailLimit: 3, authFailWindowMs: 60_000 }, { logger: createLogger('sip-bridge', { level: 'silent' }) });
    await strict.start();
    try {
      for (let i = 0; i < 3; i++) {
        const wrong = await runSipp(dir, `guess-${i}`, registerScenario(403), strict.sipPort, ['-s', PHONE.user, '-au', PHONE.user, '-ap', `guess-${i}-password`, '-t', 'u1']);
        assert.equal(wrong.code, 0, `guess ${i}: 403 after the challenge: ${wrong.output}`);
      }
      const blocked = await runSipp(dir, 'blocked', requestScenario('REGISTER', 403), strict.sipPort, ['-s', PHONE.user, '-t', 'u1']);
      assert.equal(blocked.code, 0, `the 4th attempt gets 403 at once, not a challenge: ${blocked.output}`);
      const metrics = await strict.registry.metrics();
      assert.equal(metricValue(metrics, 'studioline_sip_registrations_total', { result: 'refused' }), 3);
      assert.equal(metricValue(metrics, 'studioline_sip_registrations_total', { result: 'rate_limited' }), 1);
    } finally {
      await strict.destroy();
    }
  });

  it('answers calls it cannot serve with a clear status: 404 for an unknown number, 488 with a Warning for no common codec', async () => {
    const g729 = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 6000 RTP/AVP 18', 'a=rtpmap:18 G729/8000', ''].join('\r\n');
    const pcmu = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 6000 RTP/AVP 0', ''].join('\r\n');
    const auth = ['-s', PHONE.user, '-au', PHONE.user, '-ap', PHONE.password, '-t', 'u1'];
    const notFound = await runSipp(dir, 'invite-404', inviteScenario('777', pcmu, 404), bridge.sipPort, auth);
    assert.equal(notFound.code, 0, `an unknown number: 404: ${notFound.output}`);
    const noCodec = await runSipp(dir, 'invite-488', inviteScenario(LINE_NUMBER, g729, 488), bridge.sipPort, [...auth, '-trace_msg', '-message_file', join(dir, 'invite-488.msg')]);
    assert.equal(noCodec.code, 0, `G.729 only: 488: ${noCodec.output}`);
    assert.match(readFileSync(join(dir, 'invite-488.msg'), 'utf8'), /Warning: 305 studioline "no common codec/i);
    const metrics = await bridge.registry.metrics();
    assert.equal(metricValue(metrics, 'studioline_sip_calls_total', { result: 'not_found' }), 1);
    assert.equal(metricValue(metrics, 'studioline_sip_calls_total', { result: 'not_acceptable' }), 1);
  });

  it(`a phone that hangs up while the line is joined gets 487 (CANCEL), and a line that does not answer gives 504 within ${JOIN_TIMEOUT_MS} ms`, async () => {
    const pcmu = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 6000 RTP/AVP 0', ''].join('\r\n');
    const auth = ['-s', PHONE.user, '-au', PHONE.user, '-ap', PHONE.password, '-t', 'u1'];
    const cancelled = await runSipp(dir, 'invite-cancel', inviteScenario(STUCK_NUMBER, pcmu, 487, true), bridge.sipPort, auth);
    assert.equal(cancelled.code, 0, `CANCEL: 200, then 487 for the INVITE: ${cancelled.output}`);
    const started = performance.now();
    const timedOut = await runSipp(dir, 'invite-timeout', inviteScenario(STUCK_NUMBER, pcmu, 504), bridge.sipPort, auth);
    assert.equal(timedOut.code, 0, `a line that does not answer: 504: ${timedOut.output}`);
    assert.ok(performance.now() - started >= JOIN_TIMEOUT_MS, 'the bridge waited for the line');
    const metrics = await bridge.registry.metrics();
    assert.equal(metricValue(metrics, 'studioline_sip_calls_total', { result: 'cancelled' }), 1);
    assert.equal(metricValue(metrics, 'studioline_sip_calls_total', { result: 'line_failed' }), 1);
    assert.equal(metricValue(metrics, 'studioline_sip_active_calls'), 0);
  });

  it('sends the 200 OK again over UDP until the phone acknowledges it, and ends the call on BYE', async () => {
    const pcmu = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 6000 RTP/AVP 0', ''].join('\r\n');
    const trace = join(dir, 'invite-answered.msg');
    const run = await runSipp(dir, 'invite-answered', answeredCallScenario(LINE_NUMBER, pcmu), bridge.sipPort, ['-s', PHONE.user, '-au', PHONE.user, '-ap', PHONE.password, '-t', 'u1', '-trace_msg', '-message_file', trace]);
    assert.equal(run.code, 0, `200, ACK 1.2 s later, BYE answered 200: ${run.output}`);
    const oks = readFileSync(trace, 'utf8').split(/^-{10,}.*$/m).filter((m) => /received/.test(m) && /SIP\/2\.0 200 OK/.test(m) && /CSeq: 2 INVITE/.test(m));
    assert.ok(oks.length >= 2, `the 200 OK came again while unacknowledged (${oks.length} received)`);
    const metrics = await bridge.registry.metrics();
    assert.equal(metricValue(metrics, 'studioline_sip_active_calls'), 0, 'the BYE ended the call');
  });

  it('a phone that puts the call on hold (re-INVITE sendonly) is sent nothing until it resumes (sendrecv)', async () => {
    const rtp = createSocket('udp4');
    await new Promise<void>((r) => rtp.bind(0, '127.0.0.1', r));
    const arrivals: number[] = [];
    rtp.on('message', () => arrivals.push(performance.now()));
    const sdp = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${rtp.address().port} RTP/AVP 0`, 'a=sendrecv', ''].join('\r\n');
    const run = await runSipp(dir, 'hold-resume', holdResumeScenario(LINE_NUMBER, sdp), bridge.sipPort, ['-s', PHONE.user, '-au', PHONE.user, '-ap', PHONE.password, '-t', 'u1']);
    rtp.close();
    assert.equal(run.code, 0, `answered sendrecv, held (recvonly), resumed (sendrecv), BYE: ${run.output}\n${bridgeLogText.slice(-2000)}`);
    let gap = 0;
    let gapAt = 0;
    for (let i = 1; i < arrivals.length; i++) if (arrivals[i] - arrivals[i - 1] > gap) [gap, gapAt] = [arrivals[i] - arrivals[i - 1], i];
    assert.ok(gap > 700 && gap < 1500, `RTP to the phone stopped for the hold (about 1 s), longest gap ${gap.toFixed(0)} ms`);
    assert.ok(gapAt > 25 && arrivals.length - gapAt > 25, `RTP flowed before the hold (${gapAt} packets) and after the resume (${arrivals.length - gapAt})`);
    assert.match(bridgeLogText, /call held by the phone/);
    assert.match(bridgeLogText, /call resumed by the phone/);
  });

  it('a re-INVITE moving the phone\'s RTP to another port is followed, and its 200 is sent again over UDP until the ACK', async () => {
    const sockets = await Promise.all([0, 1].map(async () => {
      const socket = createSocket('udp4');
      await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
      const arrivals: number[] = [];
      socket.on('message', () => arrivals.push(performance.now()));
      return { socket, arrivals };
    }));
    const sdp = (port: number, version: number) => ['v=0', `o=- 1 ${version} IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0`, 'a=sendrecv', ''].join('\r\n');
    const trace = join(dir, 'reinvite.msg');
    const [first, second] = sockets;
    const run = await runSipp(dir, 'reinvite', reinviteScenario(LINE_NUMBER, sdp(first.socket.address().port, 1), sdp(second.socket.address().port, 2)), bridge.sipPort, ['-s', PHONE.user, '-au', PHONE.user, '-ap', PHONE.password, '-t', 'u1', '-trace_msg', '-message_file', trace]);
    const movedAt = first.arrivals.at(-1) ?? 0;
    for (const s of sockets) s.socket.close();
    assert.equal(run.code, 0, `answered, re-INVITE to another port answered, BYE: ${run.output}\n${bridgeLogText.slice(-2000)}`);
    const oks = readFileSync(trace, 'utf8').split(/^-{10,}.*$/m).filter((m) => /received/.test(m) && /SIP\/2\.0 200 OK/.test(m) && /CSeq: 3 INVITE/.test(m));
    assert.ok(oks.length >= 2, `the re-INVITE's 200 came again while unacknowledged (${oks.length} received)`);
    assert.ok(first.arrivals.length > 25, `RTP went to the first port before the move (${first.arrivals.length} packets)`);
    assert.ok(second.arrivals.length > 50, `RTP went to the new port after it (${second.arrivals.length} packets)`);
    assert.ok(second.arrivals[0] >= movedAt - 50, 'and not to the first port any more');
    assert.match(bridgeLogText, /the phone moved its RTP: following it/);
  });

  it('DTMF (RFC 4733) drives the menu: *1 mutes the phone toward the line, # hangs up (the bridge sends BYE)', async () => {
    const mediaPort = await freeUdpPort();
    const run = await runSipp(dir, 'dtmf', dtmfScenario(LINE_NUMBER, ['*', '1', '#']), bridge.sipPort, ['-s', PHONE.user, '-au', PHONE.user, '-ap', PHONE.password, '-t', 'u1', '-mi', '127.0.0.1', '-mp', String(mediaPort)]);
    assert.equal(run.code, 0, `telephone-event answered, *1 #, BYE from the bridge: ${run.output}\n${bridgeLogText.slice(-2000)}`);
    const metrics = await bridge.registry.metrics();
    assert.equal(metricValue(metrics, 'studioline_sip_dtmf_events_total', { action: 'mute' }), 1);
    assert.equal(metricValue(metrics, 'studioline_sip_dtmf_events_total', { action: 'hangup' }), 1);
    assert.equal(metricValue(metrics, 'studioline_sip_dtmf_events_total', { action: 'key' }), 1, 'the * alone');
    assert.match(bridgeLogText, /phone muted by its keys/);
  });

  it('DTMF *2 latches push-to-talk: the first closes the phone toward the line, the next opens it', async () => {
    const mediaPort = await freeUdpPort();
    const run = await runSipp(dir, 'dtmf-ptt', dtmfScenario(LINE_NUMBER, ['*', '2', '*', '2', '#']), bridge.sipPort, ['-s', PHONE.user, '-au', PHONE.user, '-ap', PHONE.password, '-t', 'u1', '-mi', '127.0.0.1', '-mp', String(mediaPort)]);
    assert.equal(run.code, 0, `*2 *2 #, BYE from the bridge: ${run.output}\n${bridgeLogText.slice(-2000)}`);
    const metrics = await bridge.registry.metrics();
    assert.equal(metricValue(metrics, 'studioline_sip_dtmf_events_total', { action: 'talk_off' }), 1);
    assert.equal(metricValue(metrics, 'studioline_sip_dtmf_events_total', { action: 'talk_on' }), 1);
    assert.ok(bridgeLogText.indexOf('phone push-to-talk closed by its keys (*2)') < bridgeLogText.indexOf('phone talking, push-to-talk latched open by its keys (*2)'), 'closed, then opened');
  });

  const answeredCalls = async () => metricValue(await bridge.registry.metrics(), 'studioline_sip_calls_total', { result: 'answered' });

  /** A phone and a Node peer on the line for 6 s, each sending its tone; what each heard. */
  async function call(codec: { name: string; baresip: string; rate: number; channels: number; line: string }) {
    const phoneDir = join(dir, `phone-${codec.name}`);
    mkdirSync(phoneDir);
    const wav = join(phoneDir, 'tone.wav');
    toneWav(wav, PHONE_TONE_HZ, codec.rate, codec.channels, 12);
    const peer = new NodePeer({ link: parseCallLink(links[codec.line]), source: toneSource(PEER_TONE_HZ, STUDIO_SAMPLE_RATE), seconds: 6, record: true, compact: true, peerTimeoutMs: 20_000 });
    const heardByPeer = peer.run();
    const phone = await runSoftphone({ dir: phoneDir, bridgePort: bridge.sipPort, ...PHONE, target: `sip:${codec.line}@127.0.0.1:${bridge.sipPort}`, wav, seconds: 10, codecs: [codec.baresip] });
    return { phone, summary: await heardByPeer };
  }

  /** The peer heard the phone's tone and the phone the peer's, each at its frequency and level. */
  function assertHeard(phone: Awaited<ReturnType<typeof call>>['phone'], summary: Awaited<ReturnType<typeof call>>['summary'], phoneRate: number): void {
    assert.match(phone.output, /Call established/, phone.output);
    // The peer: one track (the bridge), at 48 kHz (the compact layer), holding the phone's tone.
    assert.equal(summary.tracks?.length, 1, `the peer heard one sender: ${JSON.stringify({ ...summary, tracks: undefined, recording: undefined })}; the bridge logged:\n${bridgeLogText.slice(-2000)}`);
    const track = summary.tracks![0];
    assert.equal(track.sampleRate, 48_000);
    assert.ok(track.samples.length > 48_000 * 4, `at least 4 s heard, got ${track.samples.length / 48_000} s`);
    const atPeer = dominantFrequency(track.samples, 48_000);
    assert.ok(Math.abs(atPeer - PHONE_TONE_HZ) < 3, `the peer hears ${atPeer} Hz`);
    assert.ok(rms(track.samples) > 4000, `the phone's tone arrives at its level (RMS ${rms(track.samples).toFixed(0)}, sent 8485)`);

    // The phone: what baresip decoded from the bridge's RTP (its first channel), holding the peer's tone.
    const { heard } = phone.recordings();
    assert.ok(heard, `baresip recorded what it heard: ${phone.output}`);
    const pcm = decodeWav(readFileSync(heard));
    assert.equal(pcm.sampleRate, phoneRate);
    const seconds = pcm.samples.length / pcm.sampleRate;
    assert.ok(seconds > 4, `the phone heard at least 4 s, got ${seconds} s; the bridge logged:\n${bridgeLogText.slice(-3000)}\nbaresip:\n${phone.output.replace(/\[[^\]]*\] audio=[^ ]*/g, '').slice(-3000)}`);
    const atPhone = dominantFrequency(pcm.samples, pcm.sampleRate);
    assert.ok(Math.abs(atPhone - PEER_TONE_HZ) < 3, `the phone hears ${atPhone} Hz`);
    assert.ok(rms(pcm.samples) > 4000, `the peer's tone reaches the phone at its level (RMS ${rms(pcm.samples).toFixed(0)}, sent 11585)`);
  }

  it(`a baresip phone dials the line with G.711 µ-law: the Node peer hears its ${PHONE_TONE_HZ} Hz, the phone hears the peer's ${PEER_TONE_HZ} Hz`, async () => {
    const { phone, summary } = await call({ name: 'pcmu', baresip: 'PCMU', rate: 8000, channels: 1, line: PCMU_LINE });
    assertHeard(phone, summary, 8000);
    const metrics = await bridge.registry.metrics();
    assert.ok(metricValue(metrics, 'studioline_sip_calls_total', { result: 'answered' }) >= 1);
    assert.equal(metricValue(metrics, 'studioline_sip_rtp_lost_total'), 0);
    assert.ok(metricValue(metrics, 'studioline_sip_rtp_packets_total', { direction: 'in' }) > 200);
    assert.equal(metricValue(metrics, 'studioline_sip_active_calls', { codec: 'PCMU' }), 0, 'the phone hung up: the call is over');
  });

  it('a phone offering Opus gets Opus (the first choice), and the tones cross both ways', async () => {
    const answered = async () => metricValue(await bridge.registry.metrics(), 'studioline_sip_calls_total', { result: 'answered' });
    const before = await answered();
    const { phone, summary } = await call({ name: 'opus', baresip: 'opus/48000/2', rate: 48_000, channels: 2, line: OPUS_LINE });
    assert.match(phone.output, /Set audio encoder: opus 48000Hz/, phone.output);
    assertHeard(phone, summary, 48_000);
    assert.equal(await answered(), before + 1);
  });

  it(`on a group line the phone hears the speakers mixed (${PEER_TONE_HZ} Hz and ${SECOND_PEER_TONE_HZ} Hz), and both peers hear the phone`, async () => {
    const phoneDir = join(dir, 'phone-group');
    mkdirSync(phoneDir);
    const wav = join(phoneDir, 'tone.wav');
    toneWav(wav, PHONE_TONE_HZ, 8000, 1, 12);
    const link = parseCallLink(links[GROUP_LINE]);
    const phoneDone = runSoftphone({ dir: phoneDir, bridgePort: bridge.sipPort, ...PHONE, target: `sip:${GROUP_LINE}@127.0.0.1:${bridge.sipPort}`, wav, seconds: 10, codecs: ['PCMU'] });
    // The peers start once the phone is in (each would otherwise start as soon as the other joined).
    const answeredBefore = await answeredCalls();
    for (let waited = 0; (await answeredCalls()) === answeredBefore; waited += 50) {
      assert.ok(waited < 15_000, `the phone's call was not answered within 15 s; the bridge logged:\n${bridgeLogText.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const peers = [PEER_TONE_HZ, SECOND_PEER_TONE_HZ].map((hz) =>
      new NodePeer({ link, source: toneSource(hz, STUDIO_SAMPLE_RATE, 0.25), seconds: 6, record: true, compact: true, peerTimeoutMs: 20_000 }).run(),
    );
    const phone = await phoneDone;
    const summaries = await Promise.all(peers);
    assert.match(phone.output, /Call established/, phone.output);
    const { heard } = phone.recordings();
    assert.ok(heard, phone.output);
    const pcm = decodeWav(readFileSync(heard));
    const tones = tonesHeard(pcm.samples, pcm.sampleRate, [PEER_TONE_HZ, SECOND_PEER_TONE_HZ]);
    for (const t of tones) {
      assert.ok(Math.abs(t.frequency - t.expected) < 5, `the phone hears ${t.expected} Hz at ${t.frequency} Hz`);
      assert.ok(t.amplitude > 2000, `the phone hears ${t.expected} Hz at a level (amplitude ${t.amplitude.toFixed(0)}): ${JSON.stringify(tones)}`);
    }
    // Each peer hears the phone (one of its tracks holds 700 Hz).
    for (const summary of summaries) {
      const fromPhone = (summary.tracks ?? []).filter((t) => Math.abs(dominantFrequency(t.samples, t.sampleRate) - PHONE_TONE_HZ) < 3);
      assert.equal(fromPhone.length, 1, `a peer heard the phone: ${(summary.tracks ?? []).map((t) => dominantFrequency(t.samples, t.sampleRate)).join(', ')} Hz`);
    }
  });
});
