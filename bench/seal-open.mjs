// SFrame cost of the certifier's hot path, and the certifier's own CPU per frame.
//
//   node bench/seal-open.mjs micro     full-rate frames (4,006-byte audio frame) sealed then opened,
//                                      one after another, on each AEAD backend: frames per second
//                                      per core and µs of CPU per frame
//   node bench/seal-open.mjs certify   an embedded server (`studioline serve`, in memory) and
//                                      `studioline certify` against it (PEERS=50, SECONDS=10, no
//                                      over-budget line): the certificate's CPU per frame and cores
//   node bench/seal-open.mjs           both
//   PROF_DIR=DIR                      with certify: --cpu-prof of the certifier's processes into DIR
//
// The machine is shared: compare backends (and before/after) as ratios within one run.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameOpener, FrameSealer, encodeAudioFrame, setAeadBackend, webCryptoBackend } from '../packages/protocol/dist/src/index.js';
import { nodeCryptoBackend } from '../packages/protocol/dist/src/sframe-node.js';
import { SERVER_FLAGS } from './processes.mjs';

const root = new URL('..', import.meta.url).pathname;
const what = process.argv[2] ?? 'all';

async function micro() {
  const frames = Number(process.env.FRAMES ?? 20000);
  const leaf = randomBytes(32);
  const pcm = new Int16Array(2000).map((_, i) => Math.round(8000 * Math.sin(i / 7)));
  const audio = encodeAudioFrame(200000, pcm);
  const out = {};
  // Each backend twice, interleaved, so that a burst of other work on the machine hits both.
  for (const round of [1, 2]) {
    for (const backend of [webCryptoBackend, nodeCryptoBackend]) {
      setAeadBackend(backend);
      const sealer = await FrameSealer.create(leaf, 0x1234567890n);
      const opener = new FrameOpener(leaf);
      const once = async () => {
        const opened = await opener.open(await sealer.seal(40, audio));
        if (typeof opened === 'string') throw new Error(opened);
      };
      for (let i = 0; i < 2000; i++) await once();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < frames; i++) await once();
      const c = process.cpuUsage(cpu0);
      const cpuS = (c.user + c.system) / 1e6;
      const wallS = (performance.now() - t0) / 1000;
      const r = { framesPerCoreSecond: Math.round(frames / cpuS), cpuUsPerFrame: Math.round((cpuS * 1e6 * 10) / frames) / 10, framesPerWallSecond: Math.round(frames / wallS) };
      if (round === 2) out[backend.name] = r;
    }
  }
  setAeadBackend(webCryptoBackend);
  out.ratio = Math.round((out['webcrypto'].cpuUsPerFrame / out['node:crypto'].cpuUsPerFrame) * 100) / 100;
  console.log(JSON.stringify({ bench: 'seal+open one full-rate frame', frames, ...out }));
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function certify() {
  const peers = process.env.PEERS ?? '50';
  const seconds = process.env.SECONDS ?? '10';
  const [port, metricsPort] = [await freePort(), await freePort()];
  const key = randomBytes(18).toString('base64url');
  const home = mkdtempSync(join(tmpdir(), 'sl-certperf-bench-'));
  const env = { ...process.env, HOME: home, APIKEY: key, ADMIN_TOKEN: randomBytes(18).toString('base64url'), PORT: String(port), METRICS_PORT: String(metricsPort), LOG_LEVEL: 'warn' };
  const server = spawn(process.execPath, [...SERVER_FLAGS, join(root, 'packages/cli/bin/studioline.js'), 'serve'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  server.stderr.on('data', (d) => (stderr += d));
  try {
    for (let i = 0; ; i++) {
      if (i > 100) throw new Error(`the server did not start:\n${stderr}`);
      if (stderr.includes('Studioline is running')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const out = join(home, 'cert');
    const args = ['certify', '--url', `http://127.0.0.1:${port}/`, '--key', key, '--peers', peers, '--lines-of', '2', '--duration', `${seconds}s`, '--over-budget', '0', '--metrics', `http://127.0.0.1:${metricsPort}/metrics`, '--out', out];
    const code = await new Promise((resolve) => spawn(process.execPath, [...(process.env.PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROF_DIR}`] : []), join(root, 'packages/cli/bin/studioline.js'), ...args], { env: { ...process.env, HOME: home }, stdio: ['ignore', 'ignore', 'inherit'] }).on('exit', resolve));
    const cert = JSON.parse(readFileSync(join(out, 'certificate.json'), 'utf8'));
    const s = cert.summary;
    console.log(JSON.stringify({ bench: 'certifier', peers: Number(peers), seconds: Number(seconds), exit: code, passed: cert.passed, framesSent: s.framesSent, unsent: s.unsent, deliveredShare: s.deliveredShare, latencyMs: s.latencyMs, certifierCpuUsPerFrame: s.certifierCpuUsPerFrame, certifierCores: s.certifierCores, eventLoopP99Ms: s.certifierEventLoopP99Ms, broken: cert.broken }));
  } finally {
    server.kill('SIGTERM');
  }
}

if (what === 'micro' || what === 'all') await micro();
if (what === 'certify' || what === 'all') await certify();
