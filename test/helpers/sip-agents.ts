/**
 * Real SIP user agents from Debian for the bridge's tests: SIPp (`sip-tester`) plays scripted
 * scenarios and says by its exit code whether every step came as written; baresip is a softphone
 * that registers, dials, sends a WAV file as its microphone (aufile) and records what it hears
 * (sndfile). Both talk only to 127.0.0.1. Missing tools fail the run under CI=true.
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IN_CI } from './env.js';

/** undefined when baresip and sipp are installed; otherwise the reason to skip (or throws under CI). */
export function requireSipAgents(): string | undefined {
  const missing = ['baresip', 'sipp'].filter((tool) => {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (!missing.length) return undefined;
  const reason = `${missing.join(' and ')} missing: install the Debian packages baresip and sip-tester (apt-get install -y baresip sip-tester)`;
  if (IN_CI) throw new Error(`CI=true and ${reason}`);
  process.stderr.write(`\n!!! SKIPPING: ${reason}\n\n`);
  return reason;
}

/** A UDP port free on 127.0.0.1 now (for a user agent that cannot be given port 0). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A port for baresip's SIP: free for UDP, and for TCP on it and the next one (baresip 1.0 listens
 * on TCP there and TLS one above whatever `sip_transports` says).
 */
export async function freeSoftphonePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freeUdpPort();
    if (port < 65535 && (await tcpFree(port)) && (await tcpFree(port + 1))) return port;
  }
  throw new Error('no port free for baresip on 127.0.0.1');
}

export interface AgentRun {
  code: number | null;
  output: string;
}

function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<AgentRun> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** Runs one SIPp scenario against the bridge once; exit code 0 means every step matched. */
export async function runSipp(dir: string, name: string, scenario: string, bridgePort: number, args: string[]): Promise<AgentRun> {
  const file = join(dir, `${name}.xml`);
  writeFileSync(file, scenario);
  const port = await freeUdpPort();
  return run('sipp', [`127.0.0.1:${bridgePort}`, '-sf', file, '-i', '127.0.0.1', '-p', String(port), '-m', '1', '-nostdin', '-timeout', '15s', '-timeout_error', ...args], dir, 30_000);
}

/** A REGISTER, its 401, the REGISTER again with digest credentials (-au/-ap), then the `expect`ed answer. */
export function registerScenario(expect: number): string {
  const register = (cseq: number, auth: boolean) => `
  <send retrans="500"><![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[service]@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: ${cseq} REGISTER
Contact: <sip:[service]@[local_ip]:[local_port];transport=[transport]>
${auth ? '[authentication]\n' : ''}Max-Forwards: 70
Expires: 120
Content-Length: 0

]]></send>`;
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register">${register(1, false)}
  <recv response="401" auth="true"/>${register(2, true)}
  <recv response="${expect}"/>
</scenario>
`;
}

/**
 * An INVITE with the given SDP (empty for none) and the one final answer `expect`ed after the auth
 * round; with `cancel`, a CANCEL right after the 100 Trying (answered 200 before the `expect`ed 487).
 */
export function inviteScenario(number: string, sdp: string, expect: number, cancel = false): string {
  const invite = (cseq: number, auth: boolean) => `
  <send retrans="500"><![CDATA[
INVITE sip:${number}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[service]@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag[call_number]
To: <sip:${number}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: ${cseq} INVITE
Contact: <sip:[service]@[local_ip]:[local_port]>
${auth ? '[authentication]\n' : ''}Max-Forwards: 70
${sdp ? 'Content-Type: application/sdp\n' : ''}Content-Length: [len]

${sdp}
]]></send>`;
  // The ACK of a failure answer belongs to the INVITE's transaction: the INVITE's Via (and branch).
  const ack = (cseq: number) => `
  <send><![CDATA[
ACK sip:${number}@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: <sip:[service]@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag[call_number]
To: <sip:${number}@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: ${cseq} ACK
Max-Forwards: 70
Content-Length: 0

]]></send>`;
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="invite">${invite(1, false)}
  <recv response="100" optional="true"/>
  <recv response="401" auth="true"/>${ack(1)}${invite(2, true)}
  <recv response="100" optional="${cancel ? 'false' : 'true'}"/>${
    cancel
      ? `
  <send><![CDATA[
CANCEL sip:${number}@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: <sip:[service]@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag[call_number]
To: <sip:${number}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 2 CANCEL
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" crlf="true"/>`
      : ''
  }
  <recv response="${expect}"/>${ack(2)}
</scenario>
`;
}

/**
 * A call that is answered: the auth round, then the 200 OK is deliberately left unacknowledged for
 * 1.2 s (the bridge must send it again over UDP; SIPp absorbs the repeats, which its message trace
 * shows), then ACK, a pause, BYE and its 200.
 */
export function answeredCallScenario(number: string, sdp: string): string {
  const inDialog = (method: string, cseq: number, content = '') => `
  <send${method === 'INVITE' ? ' retrans="500"' : ''}><![CDATA[
${method} sip:${number}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[service]@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag[call_number]
To: <sip:${number}@[remote_ip]:[remote_port]>${method === 'INVITE' ? '' : '[peer_tag_param]'}
Call-ID: [call_id]
CSeq: ${cseq} ${method}
Contact: <sip:[service]@[local_ip]:[local_port]>
${cseq === 2 && method === 'INVITE' ? '[authentication]\n' : ''}Max-Forwards: 70
${content ? 'Content-Type: application/sdp\n' : ''}Content-Length: [len]

${content}
]]></send>`;
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answered">${inDialog('INVITE', 1, sdp)}
  <recv response="100" optional="true"/>
  <recv response="401" auth="true"/>${inDialog('ACK', 1).replace('[peer_tag_param]', '').replace(/Via: .*\n/, '[last_Via:]\n')}${inDialog('INVITE', 2, sdp)}
  <recv response="100" optional="true"/>
  <recv response="200"/>
  <pause milliseconds="1200"/>${inDialog('ACK', 2)}
  <pause milliseconds="300"/>${inDialog('BYE', 3)}
  <recv response="200"/>
</scenario>
`;
}

/** One out-of-dialog request (OPTIONS, MESSAGE, ...) and the status `expect`ed, without authentication. */
export function requestScenario(method: string, expect: number): string {
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="request">
  <send retrans="500"><![CDATA[
${method} sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[service]@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag[call_number]
To: <sip:[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 ${method}
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="${expect}"/>
</scenario>
`;
}

/**
 * One request of a SIPp phone scenario, in the dialog every scenario here follows: INVITE 1 is
 * challenged (401), ACK 1 acknowledges the challenge (with the INVITE's Via), INVITE 2 carries the
 * credentials, and from ACK 2 on every request is in the dialog (the bridge's To tag).
 */
export function sippRequest(method: string, cseq: number, number: string, body = '', from = '[service]'): string {
  const inDialog = !(cseq === 1 || (cseq === 2 && method === 'INVITE'));
  return `
  <send${method === 'INVITE' ? ' retrans="500"' : ''}><![CDATA[
${method} sip:${number}@[remote_ip]:[remote_port] SIP/2.0
${method === 'ACK' && cseq === 1 ? '[last_Via:]' : 'Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]'}
From: <sip:${from}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag[call_number]
To: <sip:${number}@[remote_ip]:[remote_port]>${inDialog ? '[peer_tag_param]' : ''}
Call-ID: [call_id]
CSeq: ${cseq} ${method}
Contact: <sip:${from}@[local_ip]:[local_port]>
${method === 'INVITE' && cseq === 2 ? '[authentication]\n' : ''}Max-Forwards: 70
${body ? 'Content-Type: application/sdp\n' : ''}Content-Length: [len]

${body}
]]></send>`;
}

/**
 * A phone per SIPp call, each to its own line `l<call number>` as extension `from`: an answered
 * call (SDP `sdp`), the pcap `pcap` played into it, held `holdMs`, then BYE. The load test and the
 * calls bench (bench/sip-calls.mjs) place many at once.
 */
export function pcapCallScenario(sdp: string, pcap: string, holdMs: number, from: string): string {
  const req = (method: string, cseq: number, body = '') => sippRequest(method, cseq, 'l[call_number]', body, from);
  return `<?xml version="1.0" encoding="ISO-8859-1" ?><scenario name="pcap-call">${req('INVITE', 1, sdp)}
  <recv response="100" optional="true"/><recv response="401" auth="true"/>${req('ACK', 1)}${req('INVITE', 2, sdp)}
  <recv response="100" optional="true"/><recv response="200" rrs="true"/>${req('ACK', 2)}
  <nop><action><exec play_pcap_audio="${pcap}"/></action></nop>
  <pause milliseconds="${holdMs}"/>${req('BYE', 3)}<recv response="200"/></scenario>`;
}

/**
 * Hold and resume: an answered call (SDP `sdp` with `a=sendrecv`), then 1 s later a re-INVITE
 * offering `a=sendonly` (answered `a=recvonly`, checked), 1 s on hold, a re-INVITE offering
 * `a=sendrecv` again (answered `a=sendrecv`), 1 s, BYE.
 */
export function holdResumeScenario(number: string, sdp: string): string {
  const request = (method: string, cseq: number, body = '') => sippRequest(method, cseq, number, body);
  const answered = (direction: string) => `
  <recv response="200"><action><ereg regexp="a=${direction}" search_in="body" check_it="true" assign_to="answer"/></action></recv>`;
  const offer = (direction: string) => sdp.replace('a=sendrecv', `a=${direction}`);
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="hold-resume">${request('INVITE', 1, sdp)}
  <recv response="100" optional="true"/>
  <recv response="401" auth="true"/>${request('ACK', 1)}${request('INVITE', 2, sdp)}
  <recv response="100" optional="true"/>${answered('sendrecv')}${request('ACK', 2)}
  <pause milliseconds="1000"/>${request('INVITE', 3, offer('sendonly'))}${answered('recvonly')}${request('ACK', 3)}
  <pause milliseconds="1000"/>${request('INVITE', 4, offer('sendrecv'))}${answered('sendrecv')}${request('ACK', 4)}
  <pause milliseconds="1000"/>${request('BYE', 5)}
  <recv response="200"/>
  <Reference variables="answer"/>
</scenario>
`;
}

/**
 * A phone that moves its media: an answered call (SDP `first`), 1 s later a re-INVITE offering
 * `second` (another RTP port) whose 200 is left unacknowledged for 1.2 s (the bridge must send it
 * again over UDP; SIPp absorbs the repeats, which its message trace shows), then ACK, 1.5 s, BYE.
 */
export function reinviteScenario(number: string, first: string, second: string): string {
  const request = (method: string, cseq: number, body = '') => sippRequest(method, cseq, number, body);
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="reinvite">${request('INVITE', 1, first)}
  <recv response="100" optional="true"/>
  <recv response="401" auth="true"/>${request('ACK', 1)}${request('INVITE', 2, first)}
  <recv response="100" optional="true"/>
  <recv response="200" rrs="true"/>${request('ACK', 2)}
  <pause milliseconds="1000"/>${request('INVITE', 3, second)}
  <recv response="200"/>
  <pause milliseconds="1200"/>${request('ACK', 3)}
  <pause milliseconds="1500"/>${request('BYE', 4)}
  <recv response="200"/>
</scenario>
`;
}

/** Debian's SIPp ships RFC 4733 key presses as pcap files (payload type 101). */
export const DTMF_PCAP = (key: string) => `/usr/share/sip-tester/dtmf_2833_${key === '#' ? 'pound' : key === '*' ? 'star' : key}.pcap`;

/**
 * An answered call offering telephone-event/8000 (payload 101, checked in the answer), then the
 * `keys` pressed one by one (SIPp plays Debian's RFC 4733 pcaps at the bridge's RTP port), and the
 * bridge's BYE (the last key is #) answered 200.
 */
export function dtmfScenario(number: string, keys: string[]): string {
  const sdp = ['v=0', 'o=- 1 1 IN IP4 [media_ip]', 's=-', 'c=IN IP4 [media_ip]', 't=0 0', 'm=audio [media_port] RTP/AVP 0 101', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', ''].join('\r\n');
  const request = (method: string, cseq: number, body = '') => sippRequest(method, cseq, number, body);
  // A pause between presses, none after the last: the bridge's BYE may come at once (SIPp takes a
  // request that arrives during a pause for an unexpected one).
  const presses = keys.map((k) => `
  <nop><action><exec play_pcap_audio="${DTMF_PCAP(k)}"/></action></nop>`).join(`
  <pause milliseconds="500"/>`);
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="dtmf">${request('INVITE', 1, sdp)}
  <recv response="100" optional="true"/>
  <recv response="401" auth="true"/>${request('ACK', 1)}${request('INVITE', 2, sdp)}
  <recv response="100" optional="true"/>
  <recv response="200"><action><ereg regexp="a=rtpmap:101 telephone-event/8000" search_in="body" check_it="true" assign_to="answer"/></action></recv>${request('ACK', 2)}
  <pause milliseconds="300"/>${presses}
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <Reference variables="answer"/>
</scenario>
`;
}

export interface Softphone {
  /** The WAVs baresip's sndfile wrote: what it sent (enc) and what it heard (dec). */
  recordings(): { sent?: string; heard?: string };
  output: string;
  code: number | null;
}

/**
 * baresip as a desk phone: registers `user` with `password`, dials `target` at once, sends `wav`
 * as its microphone, records both directions, and hangs up after `seconds`.
 */
export async function runSoftphone(options: { dir: string; bridgePort: number; user: string; password: string; target: string; wav: string; seconds: number; codecs: string[] }): Promise<Softphone> {
  const { dir } = options;
  const recordings = join(dir, 'recordings');
  mkdirSync(recordings, { recursive: true });
  const sipPort = await freeSoftphonePort();
  const rtpBase = 30_000 + Math.floor(Math.random() * 5000) * 2;
  writeFileSync(
    join(dir, 'config'),
    [
      `sip_listen 127.0.0.1:${sipPort}`,
      'sip_transports udp',
      'module_path /usr/lib/baresip/modules',
      'module g711.so',
      'module opus.so',
      'module aufile.so',
      'module aubridge.so',
      'module sndfile.so',
      'module menu.so',
      'module_app account.so',
      `audio_source aufile,${options.wav}`,
      // No sound card here: the player is a bridge device nobody reads; sndfile keeps what was heard.
      'audio_player aubridge,nowhere',
      'audio_alert aubridge,nowhere',
      `snd_path ${recordings}`,
      `rtp_ports ${rtpBase}-${rtpBase + 20}`,
      // Only loopback: baresip would otherwise put the machine's LAN address into its SDP.
      'net_interface 127.0.0.1',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'accounts'), `<sip:${options.user}@127.0.0.1:${options.bridgePort};transport=udp>;auth_pass=${options.password};regint=600;audio_codecs=${options.codecs.join(',')}\n`);
  const result = await run('baresip', ['-f', dir, '-e', `/dial ${options.target}`, '-t', String(options.seconds)], dir, (options.seconds + 20) * 1000);
  return {
    ...result,
    recordings() {
      const files = readdirSync(recordings);
      const pick = (suffix: string) => files.find((f) => f.endsWith(suffix));
      const sent = pick('-enc.wav');
      const heard = pick('-dec.wav');
      return { sent: sent && join(recordings, sent), heard: heard && join(recordings, heard) };
    },
  };
}
