// npm run bench:latency: mouth-to-ear in real browsers (DESIGN.md section 5, issue 10 item 3).
// Two headless Chromium browsers (one each: the fake microphone is per browser process) play a
// click train into their microphones and call each other. Each page's capture worklet stamps every
// click it sees, the other page's playback worklet stamps every click it plays (wall clock, same
// machine), both directions, until each direction has CLICKS clicks. Run on the embedded server and
// on the Redis topology (redis-server, relay and two gateways as separate processes, one page on
// each gateway so every frame crosses Redis). Reports p50/p95/max beside the browsers' own
// baseLatency/outputLatency and the figure the page itself shows, and rewrites its table in
// BENCHMARKS.md (a full run only).
//   LATENCY_CLICKS (default 200 per direction), LATENCY_ONLY=embedded|redis.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from './cdp-chromium.mjs';
import { SERVER_FLAGS, startNode } from './processes.mjs';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'packages/cli/bin/studioline.js');
const CHROMIUM = process.env.STUDIOLINE_CHROMIUM ?? '/usr/bin/chromium';
const CLICKS = Number(process.env.LATENCY_CLICKS ?? 200);
const ONLY = process.env.LATENCY_ONLY;
const APIKEY = 'c'.repeat(72);
/** Gaps between clicks vary (150-350 ms, a fixed pseudo-random pattern) so that the lag that pairs
 * captured with played clicks is unambiguous even when it is longer than a gap. */
const GAP_MIN_MS = 150;
const GAP_SPREAD_MS = 200;
const MEAN_GAP_MS = GAP_MIN_MS + GAP_SPREAD_MS / 2;
/** A played click this far from where the common lag puts it is not the captured one. */
const MATCH_WITHIN_MS = GAP_MIN_MS / 2;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (m) => process.stderr.write(`bench:latency: ${m}\n`);

/** A WAV (48 kHz mono 16-bit) of clicks 150-350 ms apart: 2 ms bursts of 2 kHz at -2 dBFS, silence between. */
function clickTrainWav() {
  const rate = 48_000;
  const seconds = 12;
  const pcm = new Int16Array(rate * seconds);
  let seed = 12345;
  const gap = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return GAP_MIN_MS + (seed / 2147483648) * GAP_SPREAD_MS;
  };
  // The file loops: the last gap (to the end, then to the first click) is also at least GAP_MIN_MS.
  for (let ms = GAP_MIN_MS / 2; ms < seconds * 1000 - GAP_MIN_MS; ms += gap()) {
    const at = Math.round((ms / 1000) * rate);
    for (let i = 0; i < rate / 500; i++) pcm[at + i] = Math.round(0.8 * 32767 * Math.sin((2 * Math.PI * 2000 * i) / rate));
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + pcm.byteLength, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(pcm.byteLength, 40);
  const file = join(mkdtempSync(join(tmpdir(), 'studioline-clicks-')), 'clicks.wav');
  writeFileSync(file, Buffer.concat([header, Buffer.from(pcm.buffer)]));
  return file;
}

function launch(wav) {
  return launchChromium(CHROMIUM, [
    '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav}`, '--autoplay-policy=no-user-gesture-required',
  ]);
}

function start(args, env, ready) {
  return startNode([...SERVER_FLAGS, cli, ...args], env, ready, { logLevel: 'info' });
}

const listening = (t) => /"address":"(http:\/\/[^"]+)","msg":"gateway listening"/.exec(t)?.[1];

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function leaf() {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
}

async function openPage(browser, url) {
  const page = await browser.newPage(url);
  await page.waitFor(`[...document.querySelectorAll('button')].some((b) => b.textContent.trim() === 'Join call')`, 20_000);
  await page.evaluate(`[...document.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Join call').click()`);
  return page;
}

/**
 * The gateways' own histogram of server-added latency (studioline_relay_hop_latency_seconds: from
 * the gateway a frame entered, through Redis and the relay, to the gateway that delivers it), as the
 * share of frames within each bucket, summed over `gateways`.
 */
async function serverHop(gateways) {
  const buckets = new Map();
  for (const g of gateways) {
    const text = await (await fetch(`${g}/metrics`)).text();
    for (const [, le, n] of text.matchAll(/^studioline_relay_hop_latency_seconds_bucket\{le="([^"]+)"\} (\d+)/gm)) buckets.set(le, (buckets.get(le) ?? 0) + Number(n));
  }
  const total = buckets.get('+Inf');
  if (!total) return undefined;
  return ['0.001', '0.002', '0.005', '0.01', '0.025', '0.05']
    .map((le) => `${(100 * (buckets.get(le) ?? 0) / total).toFixed(le === '0.001' ? 1 : 2)} % within ${Number(le) * 1000} ms`)
    .join(', ');
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];

/**
 * Pairs captured with played clicks: the lag that lines up the most pairs (5 ms bins, up to 2 s;
 * the irregular gaps make it unique), then for each captured click the played one nearest to it.
 */
function match(captured, played) {
  const bins = new Map();
  for (const c of captured) {
    for (const p of played) {
      if (p > c && p - c < 2000) bins.set(Math.round((p - c) / 5), (bins.get(Math.round((p - c) / 5)) ?? 0) + 1);
    }
  }
  if (!bins.size) return [];
  const lag = 5 * [...bins].reduce((a, b) => (b[1] + (bins.get(b[0] - 1) ?? 0) + (bins.get(b[0] + 1) ?? 0) > a[1] + (bins.get(a[0] - 1) ?? 0) + (bins.get(a[0] + 1) ?? 0) ? b : a))[0];
  const out = [];
  for (const c of captured) {
    let best;
    for (const p of played) if (best === undefined || Math.abs(p - c - lag) < Math.abs(best - c - lag)) best = p;
    if (best !== undefined && Math.abs(best - c - lag) <= MATCH_WITHIN_MS) out.push(best - c);
  }
  return out;
}

/** Two pages, one per browser, call each other on `urls` until each direction has CLICKS clicks. */
async function measure(name, urls, browsers) {
  const pages = [await openPage(browsers[0], urls[0]), await openPage(browsers[1], urls[1])];
  await Promise.all(pages.map((p) => p.waitFor(`document.querySelector('#state[data-state="in-call"]')`, 20_000)));
  // Let the jitter buffers settle as a caller's would before anyone speaks.
  await sleep(3000);
  await Promise.all(pages.map((p) => p.evaluate('globalThis.studiolineAudio.probeClicks(true)')));
  const shown = [[], []];
  const deadline = Date.now() + ((CLICKS * MEAN_GAP_MS) / 1000 + 60) * 1000;
  let lags = [[], []];
  while (Date.now() < deadline) {
    await sleep(1000);
    const logs = await Promise.all(pages.map((p) => p.evaluate('globalThis.studiolineAudio.clicks')));
    lags = [0, 1].map((d) => match(logs[d].captured, logs[1 - d].played.map((p) => p.at)));
    for (const d of [0, 1]) {
      // What the listening page shows, as a number (the first figure of "N ms + device output M ms").
      const text = await pages[1 - d].evaluate(`document.querySelector('#stat-latency')?.textContent`);
      const ms = parseFloat(text ?? '');
      if (Number.isFinite(ms)) shown[d].push(ms);
    }
    if (lags.every((l) => l.length >= CLICKS)) break;
  }
  const counts = await Promise.all(pages.map((p) => p.evaluate('[globalThis.studiolineAudio.clicks.captured.length, globalThis.studiolineAudio.clicks.played.length]')));
  const device = await Promise.all(pages.map((p) => p.evaluate('globalThis.studiolineAudio.deviceLatency')));
  const jitter = await Promise.all(pages.map((p) => p.evaluate('globalThis.studioline?.jitter')));
  const stretches = await Promise.all(pages.map((p) => p.evaluate('({ capture: globalThis.studioline?.capture, rttMs: globalThis.studioline?.figures.rttMs, serverMs: globalThis.studioline?.figures.serverMs })')));
  const rate = await pages[0].evaluate('globalThis.studiolineAudio.sampleRate');
  const errors = pages.flatMap((p) => p.errors);
  await Promise.all(pages.map((p) => p.close()));
  if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
  const all = lags.flat().sort((a, b) => a - b);
  const shownAll = shown.flat().sort((a, b) => a - b);
  if (lags.some((l) => l.length < CLICKS)) log(`${name}: only ${lags.map((l) => l.length).join(' and ')} clicks matched (captured, played on each page: ${JSON.stringify(counts)})`);
  return {
    name,
    sampleRate: rate,
    clicks: all.length,
    p50: quantile(all, 0.5),
    p95: quantile(all, 0.95),
    max: all[all.length - 1],
    shownP50: shownAll.length ? quantile(shownAll, 0.5) : NaN,
    baseLatencyMs: device[1].baseMs,
    outputLatencyMs: device[1].outputMs,
    jitter: jitter.map((j) => j?.map(({ handoffMs, playoutMs, residenceMs, targetMs, depthMs, underruns, concealed, late, cutMs }) => ({ handoffMs, playoutMs, residenceMs, targetMs, depthMs, underruns, concealed, late, cutMs }))),
    stretches,
  };
}

const results = [];
const cleanup = [];
const loadBefore = loadavg().map((l) => l.toFixed(2)).join(' ');
const wav = clickTrainWav();
const browsers = await Promise.all([launch(wav), launch(wav)]);
const browserVersion = browsers[0].version;
cleanup.push(() => Promise.all(browsers.map((b) => b.close())));
try {
  if (!ONLY || ONLY === 'embedded') {
    log('embedded server');
    const home = mkdtempSync(join(tmpdir(), 'studioline-latency-'));
    const server = await start(['serve', '--port', '0'], { APIKEY, ADMIN_PORT: '0', STUDIOLINE_HOME: home }, listening);
    cleanup.push(() => server.child.kill());
    const url = `${server.value}/#apikey=${APIKEY}&leaf_${leaf()}`;
    results.push(await measure('embedded (one process)', [url, url], browsers));
  }
  if (!ONLY || ONLY === 'redis') {
    log('Redis topology');
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    const redisPort = await freePort();
    const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    cleanup.push(() => redis.kill());
    const env = { REDIS_URL: `redis://127.0.0.1:${redisPort}`, REDIS_PREFIX: `latency${Date.now()}:`, APIKEY, METRICS_PORT: '0' };
    await new Promise((r) => setTimeout(r, 300));
    const relay = await start(['serve', '--role', 'relay'], env, (t) => /relay started/.test(t));
    cleanup.push(() => relay.child.kill());
    const gateways = await Promise.all([0, 1].map(() => start(['serve', '--role', 'gateway', '--port', '0'], env, listening)));
    for (const g of gateways) cleanup.push(() => g.child.kill());
    const l = leaf();
    results.push(await measure('Redis topology (redis-server, relay, 2 gateways)', gateways.map((g) => `${g.value}/#apikey=${APIKEY}&leaf_${l}`), browsers));
    results.at(-1).serverHop = await serverHop(gateways.map((g) => g.value));
  }
} finally {
  for (const c of cleanup.reverse()) await c();
}

const f = (v) => (Number.isFinite(v) ? v.toFixed(1) : '–');
const rows = [
  '| topology | clicks | p50 ms | p95 ms | max ms | page shows (p50) ms | baseLatency ms | outputLatency ms | context rate |',
  '|---|---|---|---|---|---|---|---|---|',
  ...results.map((r) => `| ${r.name} | ${r.clicks} | ${f(r.p50)} | ${f(r.p95)} | ${f(r.max)} | ${f(r.shownP50)} | ${f(r.baseLatencyMs)} | ${f(r.outputLatencyMs)} | ${r.sampleRate / 1000} kHz |`),
];
const loadAfter = loadavg().map((l) => l.toFixed(2)).join(' ');
const machine = `${cpus().length} × ${cpus()[0].model}, Node ${process.version}, Chromium ${browserVersion}, ${new Date().toISOString().slice(0, 10)}; load average ${loadBefore} before the run, ${loadAfter} after`;
const busy = Math.max(...[loadBefore, loadAfter].map((l) => Number(l.split(' ')[0]))) > cpus().length / 2;
const buffers = [
  '| topology | page | residence ms | target ms | underruns | concealed | late | cut ms |',
  '|---|---|---|---|---|---|---|---|',
  ...results.flatMap((r) => r.jitter.map((senders, page) => senders?.map((j) => `| ${r.name} | ${'AB'[page]} | ${f(j.residenceMs)} | ${f(j.targetMs)} | ${j.underruns} | ${j.concealed} | ${j.late} | ${f(j.cutMs)} |`).join('\n'))),
];
// Where the time goes, as each page measured it (latency.ts adds these up for the figure it shows).
const parts = [
  '| topology | page | capture fill ms | capture hand-off ms | round trip ms | servers ms | playback hand-off ms | playout ms |',
  '|---|---|---|---|---|---|---|---|',
  ...results.flatMap((r) => r.stretches.map((s, page) => {
    const j = r.jitter[page]?.[0];
    return `| ${r.name} | ${'AB'[page]} | ${f(s.capture?.fillMs)} | ${f(s.capture?.handoffMs)} | ${f(s.rttMs)} | ${f(s.serverMs)} | ${f(j?.handoffMs)} | ${f(j?.playoutMs)} |`;
  })),
];
const table = [
  `Command: \`npm run bench:latency\` (${CLICKS} clicks each way).`,
  `Machine: ${machine}.`,
  ...(busy ? ['', `**The machine was busy during this run (load average over ${cpus().length / 2} on ${cpus().length} cores): these figures measure that contention as much as Studioline; re-run on a quiet machine.**`] : []),
  '',
  rows.join('\n'),
  '',
  'Each page\'s jitter buffer at the end of the run (the other page as sender):',
  '',
  buffers.join('\n'),
  '',
  ...results.filter((r) => r.serverHop).map((r) => `Server-added latency on the ${r.name}, from the gateways' histogram over the whole run: ${r.serverHop}.\n`),
  'Where the time went, as each page measured it (the figure it shows is their sum; the sender\'s capture is taken to be like the listener\'s own):',
  '',
  parts.join('\n'),
  '',
].join('\n');
console.log(table);
const file = join(root, 'BENCHMARKS.md');
const doc = readFileSync(file, 'utf8');
const [startMark, endMark] = ['<!-- latency:start -->', '<!-- latency:end -->'];
if (!ONLY && doc.includes(startMark) && doc.includes(endMark)) {
  writeFileSync(file, doc.split(startMark)[0] + startMark + '\n' + table + endMark + doc.split(endMark)[1]);
  log(`wrote ${file}`);
}
const missed = results.filter((r) => !(r.p50 <= 30 && r.p95 <= 45 && Math.abs(r.shownP50 - r.p50) <= 5));
if (missed.length) {
  log(`target missed (p50 <= 30 ms, p95 <= 45 ms, page within 5 ms of p50): ${missed.map((r) => r.name).join(', ')}`);
  process.exitCode = 1;
}
