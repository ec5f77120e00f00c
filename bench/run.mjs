// npm run bench: in ONE run, on this machine, the baselines and Studioline side by side (the
// default shape, `--shape pairs`: 1:1 full-rate lines; `--help` lists the others, bench/shapes.mjs).
//   1. raw Redis pub/sub at the frame size (one ioredis publisher)
//   2. a bare ws relay (no Redis): the Node ceiling
//   3. Studioline embedded (one process, in memory)
//   4. Studioline on Redis: gateway, relay and Redis as separate processes
// For 2-4: the largest number of full-rate peers (3.2 Mbit/s each way) with >= 99.9 % of frames
// delivered, stepping up; CPU and RSS per peer; for 3-4 the server-added latency (gateway in to
// gateway out) from the gateway's histogram. Prints a table and writes BENCHMARKS.md.
import { runGenerator as runGeneratorProcess } from './generator.mjs';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { quantileFromBuckets } from '../scripts/lib/histogram.mjs';
import { SERVER_FLAGS, startNode, usage } from './processes.mjs';
import { runShapes, shapeFromArgs } from './shapes.mjs';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'packages/cli/bin/studioline.js');
const STEPS = (process.env.BENCH_STEPS ?? '40,80,120,160,200,240,280,320,400,480,560,640').split(',').map(Number);
/** Past the last listed step, keep stepping up by a quarter until a configuration fails (or this many peers). */
const MAX_PEERS = Number(process.env.BENCH_MAX_PEERS ?? 4000);
/** Peers per generator process: a step with more peers is split over several processes. */
const PEERS_PER_GENERATOR = Number(process.env.BENCH_PEERS_PER_GENERATOR ?? 160);
/** A generator process busier than this (cores) may be what limits the step, not the server. */
const GENERATOR_BUSY_CORES = 0.8;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
// BENCH_ONLY=redis (or bare, embedded) measures one configuration while engineering it; the table
// and BENCHMARKS.md are only written by a full run, since ratios need the baseline from the same run.
const ONLY = process.env.BENCH_ONLY;
const wanted = (name) => !ONLY || name === ONLY;
const APIKEY = 'b'.repeat(72);
// Every generated peer comes from 127.0.0.1: lift the per-address caps that a real deployment keeps
// (SOCKETS_PER_ADDRESS, UNAUTHENTICATED_PER_ADDRESS), or the generator would measure them.
const ONE_ADDRESS = { SOCKETS_PER_ADDRESS: '100000', UNAUTHENTICATED_PER_ADDRESS: '100000' };
const log = (m) => process.stderr.write(`bench: ${m}\n`);

function startProcess(args, env, ready) {
  return startNode([...SERVER_FLAGS, ...args], env, ready);
}

async function scrapeLatency(metricsUrl) {
  if (!metricsUrl) return new Map();
  const text = await (await fetch(metricsUrl)).text();
  return new Map([...text.matchAll(/^studioline_relay_hop_latency_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm)].map((m) => [Number(m[1]), Number(m[2])]));
}

function quantile(before, after, q) {
  return quantileFromBuckets([...after].map(([le, n]) => [le, n - (before.get(le) ?? 0)]), q) ?? NaN;
}


/** One generator process; `onWarm` runs when its measured window starts (after its warm-up). */
function runGenerator(url, peers, onWarm) {
  return runGeneratorProcess(join(root, 'bench/load.mjs'), { URL: url, APIKEY, PEERS: String(peers), SECONDS: String(SECONDS) }, onWarm);
}

/**
 * Runs `peers` over as many generator processes as PEERS_PER_GENERATOR asks for (each with whole
 * 1:1 lines), `onWarm` once all are warm, and adds up their figures: frames, their own CPU, and the
 * histogram of each frame's way through the server as they measured it.
 */
async function runLoad(url, peers, onWarm) {
  const processes = Math.max(1, Math.ceil(peers / PEERS_PER_GENERATOR));
  const lines = peers / 2;
  const shares = Array.from({ length: processes }, (_, i) => 2 * (Math.floor(lines / processes) + (i < lines % processes ? 1 : 0)));
  let warmCount = 0;
  let warmed;
  const allWarm = new Promise((resolve) => (warmed = resolve));
  const runs = await Promise.all(shares.map((n) => runGenerator(url, n, () => (++warmCount === processes ? (warmed(onWarm()), allWarm) : allWarm))));
  const sum = (key) => runs.reduce((a, r) => a + r[key], 0);
  const seconds = Math.max(...runs.map((r) => r.seconds));
  const latency = runs[0].latency.map((_, i) => runs.reduce((a, r) => a + r.latency[i], 0));
  const received = sum('received');
  const quantileMs = (q) => {
    let seen = 0;
    for (let i = 0; i < latency.length; i++) if ((seen += latency[i]) >= q * received) return (i + 1) * runs[0].latencyBinMs;
    return NaN;
  };
  return {
    processes,
    sent: sum('sent'),
    received,
    refused: sum('refused'),
    seconds,
    lagging: Math.max(...runs.map((r) => r.lagging)),
    generatorCores: sum('cpuSeconds') / seconds,
    busiestGeneratorCores: Math.max(...runs.map((r) => r.cpuSeconds / r.seconds)),
    e2eP50ms: quantileMs(0.5),
    e2eP99ms: quantileMs(0.99),
  };
}

/** The listed steps, then a quarter more each time up to MAX_PEERS (whole 1:1 lines). */
function* steps() {
  yield* STEPS;
  for (let peers = STEPS.at(-1); (peers = 2 * Math.round((peers * 1.25) / 2)) <= MAX_PEERS; ) yield peers;
}

/** The latency target (DESIGN.md §5): server-added p99 under 5 ms. */
const P99_TARGET_MS = 5;
/** The load at which the latency target is reported. */
const TARGET_PEERS = 200;

/**
 * Steps up the peers until delivery drops below 99.9 % or the generator falls behind. Returns the
 * highest step with every frame delivered (`best`), the highest that also kept p99 under the
 * target (`withinLatency`: a step can deliver everything, late), and the step at TARGET_PEERS.
 * The p99 is the server's own figure where it has one (Studioline's gateway histogram), else the
 * generator's (each frame's way from the generator through the server and back to it).
 */
async function capacity(name, url, pids, metricsUrl) {
  const idle = usage(pids);
  let best;
  let withinLatency;
  let atTarget;
  for (const peers of steps()) {
    let before;
    let latBefore;
    let r;
    try {
      r = await runLoad(url, peers, async () => {
        before = usage(pids);
        latBefore = await scrapeLatency(metricsUrl);
      });
    } catch (err) {
      log(`${name} ${peers} peers: ${err.message}`);
      break;
    }
    const after = usage(pids);
    const latAfter = await scrapeLatency(metricsUrl);
    const delivered = r.received / Math.max(1, r.sent);
    const ok = delivered >= 0.999 && r.lagging < 0.5 && r.refused === 0;
    const row = {
      peers,
      delivered,
      generators: r.processes,
      generatorCores: r.generatorCores,
      generatorBound: r.busiestGeneratorCores > GENERATOR_BUSY_CORES || r.lagging >= 0.5,
      e2eP50ms: r.e2eP50ms,
      e2eP99ms: r.e2eP99ms,
      cpuCores: (after.cpu - before.cpu) / r.seconds,
      cpuUsPerFrame: ((after.cpu - before.cpu) * 1e6) / Math.max(1, r.sent),
      rssMb: after.rss / 1e6,
      rssPerPeerKb: (after.rss - idle.rss) / peers / 1e3,
      measuredLatency: latAfter.size > 0,
    };
    row.p50ms = row.measuredLatency ? quantile(latBefore, latAfter, 0.5) * 1000 : r.e2eP50ms;
    row.p99ms = row.measuredLatency ? quantile(latBefore, latAfter, 0.99) * 1000 : r.e2eP99ms;
    log(`${name} ${peers} peers: delivered ${(delivered * 100).toFixed(3)} %, server CPU ${row.cpuCores.toFixed(2)} cores (${row.cpuUsPerFrame.toFixed(0)} µs/frame), RSS ${row.rssMb.toFixed(0)} MB, ${metricsUrl ? `server-added p50 ${row.p50ms.toFixed(2)} ms p99 ${row.p99ms.toFixed(2)} ms, ` : ''}generator to generator p50 ${row.e2eP50ms.toFixed(1)} ms p99 ${row.e2eP99ms.toFixed(1)} ms; generator ${row.generators} process(es), ${row.generatorCores.toFixed(2)} cores${row.generatorBound ? ' (busy: it may be the limit)' : ''}${ok ? '' : '  <- limit'}`);
    if (!ok) break;
    best = row;
    if (row.p99ms < P99_TARGET_MS) withinLatency = row;
    if (peers === TARGET_PEERS) atTarget = row;
  }
  return { name, best, withinLatency, atTarget };
}

// `npm run bench -- --shape group|layers|all` measures the layered shapes instead (bench/shapes.mjs).
const shape = shapeFromArgs(process.argv.slice(2));
if (shape !== 'pairs') {
  await runShapes(shape);
  process.exit(process.exitCode ?? 0);
}

try {
  execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
} catch {
  console.error('bench: redis-server is not installed (the Redis baseline and topology need it): apt-get install -y redis-server');
  process.exit(2);
}

const results = [];
const cleanup = [];
try {
  // Redis for the baseline and the topology.
  const redisPort = 6400 + Math.floor(Math.random() * 500);
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--client-output-buffer-limit', 'pubsub 128mb 32mb 60'], { stdio: 'ignore' });
  cleanup.push(() => redis.kill());
  await new Promise((r) => setTimeout(r, 500));
  const redisUrl = `redis://127.0.0.1:${redisPort}`;

  if (wanted('pubsub')) {
    const pubsub = await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [join(root, 'bench/redis-pubsub.mjs')], { env: { PATH: process.env.PATH, REDIS_URL: redisUrl, SECONDS: '3' }, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error('redis pub/sub baseline failed'))));
    });
    results.pubsub = pubsub;
    log(`raw Redis pub/sub: ${pubsub.mbPerSecond.toFixed(0)} MB/s (${pubsub.framesPerSecond.toFixed(0)} frames/s of 4,045 bytes)`);
  }

  if (wanted('bare')) {
    const bare = await startProcess([join(root, 'bench/bare-relay.mjs')], {}, (t) => /"port":(\d+)/.exec(t)?.[1]);
    cleanup.push(() => bare.child.kill());
    results.push(await capacity('bare ws relay (baseline)', `ws://127.0.0.1:${bare.value}/ws`, [bare.child.pid]));
    bare.child.kill();
  }

  if (wanted('embedded')) {
    const home = mkdtempSync(join(tmpdir(), 'studioline-bench-'));
    const embedded = await startProcess([cli, 'serve', '--port', '0'], { APIKEY, ...ONE_ADDRESS, ADMIN_PORT: '0', STUDIOLINE_HOME: home, LOG_LEVEL: 'info' }, (t) => /"gateway listening"/.test(t) && /"address":"(http:\/\/[^"]+)","msg":"gateway listening"/.exec(t)?.[1]);
    cleanup.push(() => embedded.child.kill());
    results.push(await capacity('Studioline embedded', `${embedded.value.replace('http', 'ws')}/ws`, [embedded.child.pid], `${embedded.value}/metrics`));
    embedded.child.kill();
  }

  if (wanted('redis')) {
    const env = { REDIS_URL: redisUrl, REDIS_PREFIX: `bench${Date.now()}:`, APIKEY, ...ONE_ADDRESS, METRICS_PORT: '0', LOG_LEVEL: 'info' };
    const relay = await startProcess([cli, 'serve', '--role', 'relay'], env, (t) => /relay started/.test(t));
    cleanup.push(() => relay.child.kill());
    const gateway = await startProcess([cli, 'serve', '--role', 'gateway', '--port', '0'], env, (t) => /"address":"(http:\/\/[^"]+)","msg":"gateway listening"/.exec(t)?.[1]);
    cleanup.push(() => gateway.child.kill());
    results.push(await capacity('Studioline on Redis (gateway, relay, Redis: 3 processes)', `${gateway.value.replace('http', 'ws')}/ws`, [gateway.child.pid, relay.child.pid, redis.pid], `${gateway.value}/metrics`));
  }
  if (!ONLY) {
    const ceiling = results[0].best?.peers ?? NaN;
    // A quantile past the histogram's last bucket (250 ms) has no value: shown as such.
    const q = (v) => (Number.isNaN(v) ? '> 250' : v.toFixed(2));
    const ms = (row) => (!row ? '-' : `${q(row.p50ms)} / ${q(row.p99ms)} ms`);
    const generator = (row) => `${row.generators} × ${(row.generatorCores / row.generators).toFixed(2)} cores${row.generatorBound ? ' (busy)' : ''}`;
    const table = [
      `| configuration | full-rate peers, >= 99.9 % delivered | ratio to bare ws | of those, with p99 < ${P99_TARGET_MS} ms | latency p50 / p99 at ${TARGET_PEERS} peers | latency at the highest step | server CPU there | CPU per frame (all server processes) | RSS per peer | load generator there |`,
      '|---|---|---|---|---|---|---|---|---|---|',
      ...results.map(({ name, best, withinLatency, atTarget }) =>
        best
          ? `| ${name} | ${best.peers} | ${(best.peers / ceiling).toFixed(2)} | ${withinLatency ? `${withinLatency.peers} (${(withinLatency.peers / (results[0].withinLatency?.peers ?? NaN)).toFixed(2)})` : 'none'} | ${ms(atTarget)} | ${ms(best)} | ${best.cpuCores.toFixed(2)} cores | ${best.cpuUsPerFrame.toFixed(0)} µs | ${best.rssPerPeerKb.toFixed(0)} kB | ${generator(best)} |`
          : `| ${name} | below ${STEPS[0]} | - | - | - | - | - | - | - | - |`,
      ),
    ].join('\n');
    const machine = `${cpus().length} × ${cpus()[0].model}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
    const report = `## Latest run\n\nCommand: \`npm run bench\` (steps ${STEPS.join(', ')} peers, ${SECONDS} s each; load generator on the same machine).\nMachine: ${machine}.\n\nRaw Redis pub/sub, one ioredis publisher, 4,045-byte messages: **${results.pubsub.mbPerSecond.toFixed(0)} MB/s** (${results.pubsub.framesPerSecond.toFixed(0)} messages/s).\n\n${table}\n`;
    console.log('\n' + report);
    const file = join(root, 'BENCHMARKS.md');
    let doc = '';
    try {
      doc = readFileSync(file, 'utf8');
    } catch {}
    const head = doc.split('## Latest run')[0] || '# Benchmarks\n\n';
    const tail = doc.includes('## History') ? '\n## History' + doc.split('## History')[1] : '';
    writeFileSync(file, head + report + tail);
    log(`wrote ${file}`);
  }
} finally {
  for (const c of cleanup) c();
}
