// The layered shapes of `npm run bench -- --shape group|layers|all` (issue 13), measured on one
// topology (Redis by default: redis-server, a relay and a gateway as processes) against a baseline
// of 1:1 full-rate lines (`pairs`, bench/load.mjs) measured in the same run, on the same servers:
//   group   lines of BENCH_LINE_PEERS (8) full-rate peers, all speaking at the same level; each
//           sends the full layer and the compact one beside it; the relay forwards the loudest 2
//   layers  the same lines with every other member mobile (`mobile=1`: compact only, both ways)
// For each, the peers carried (stepping up until fewer than 99.9 % of the forwarded frames arrive,
// the generator falls behind or a peer is refused), the bytes delivered to each receiver by layer
// and receiver class, the streams each receiver got, and the servers' CPU per frame in. Several
// generator processes (bench/load-shapes.mjs) per step, each reporting its own CPU. Rewrites the
// shapes section of BENCHMARKS.md.
import { runGenerator as runGeneratorProcess } from './generator.mjs';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVER_FLAGS, startNode, usage } from './processes.mjs';
import { report } from './shapes-report.mjs';

const HELP = `npm run bench [-- --shape SHAPE]

  --shape pairs    (default) 1:1 full-rate lines on the bare ws relay, embedded and Redis (bench/run.mjs)
  --shape group    lines of 8 full-rate peers, all speaking, the loudest 2 forwarded
  --shape layers   the same lines, every other member mobile (compact layer only)
  --shape all      group and layers in one run
  group, layers and all also measure pairs on the same servers, as their baseline.

Environment (group, layers, all): BENCH_TOPOLOGY redis|embedded (redis), BENCH_SHAPE_STEPS
(16,32,48,64,96,128,160,192,240; then a quarter more each step up to BENCH_MAX_PEERS, 4000), BENCH_SECONDS (5),
BENCH_LINE_PEERS (8; 2 makes the layer shape 1:1), BENCH_SHAPE_PEERS_PER_GENERATOR (80),
BENCH_SHAPE_REF_PEERS (32: the step where CPU per frame and bytes per receiver are compared),
BENCH_BUDGET_BPS (the gateways' BUDGET_BPS; unset: the shipped 7000000).`;

export const SHAPES = ['pairs', 'group', 'layers', 'all'];

/** The shape asked for on the command line; prints the help (and exits) for --help or a bad one. */
export function shapeFromArgs(argv) {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(HELP);
    process.exit(0);
  }
  const i = argv.indexOf('--shape');
  const shape = i < 0 ? 'pairs' : argv[i + 1];
  const unknown = argv.filter((a, j) => j !== i && j !== i + 1);
  if (!SHAPES.includes(shape) || unknown.length) {
    console.error(`bench: ${unknown.length ? `unknown argument ${unknown[0]}` : `--shape must be one of ${SHAPES.join(', ')}`}\n\n${HELP}`);
    process.exit(2);
  }
  return shape;
}

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'packages/cli/bin/studioline.js');
const LINE_PEERS = Number(process.env.BENCH_LINE_PEERS ?? 8);
/** Whole lines, and an even count so the pairs baseline runs the same peers. */
const UNIT = LINE_PEERS % 2 ? LINE_PEERS * 2 : LINE_PEERS;
const roundUp = (n) => Math.max(UNIT, Math.ceil(n / UNIT) * UNIT);
const STEPS = (process.env.BENCH_SHAPE_STEPS ?? '16,32,48,64,96,128,160,192,240').split(',').map((n) => roundUp(Number(n)));
const MAX_PEERS = Number(process.env.BENCH_MAX_PEERS ?? 4000);
/** A group peer sends two frames and hears two streams each 10 ms: half load.mjs's 160 per process. */
const PEERS_PER_GENERATOR = Number(process.env.BENCH_SHAPE_PEERS_PER_GENERATOR ?? 80);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const TOPOLOGY = process.env.BENCH_TOPOLOGY ?? 'redis';
const REF_PEERS = roundUp(Number(process.env.BENCH_SHAPE_REF_PEERS ?? 32));
const GENERATOR_BUSY_CORES = 0.8;
/**
 * The gateways' per-peer budget (BUDGET_BPS; unset: the shipped 7 Mbit/s). A group listener hears
 * 2 full-rate streams, 6.46 Mbit/s with websocket headers: 92 % of the default budget, so on a busy
 * machine the frames the servers' stalls bunch up are trimmed (over_budget). A higher budget here
 * measures what the servers carry apart from that.
 */
const BUDGET_BPS = process.env.BENCH_BUDGET_BPS;
const BUDGET_ENV = BUDGET_BPS ? { BUDGET_BPS } : {};
const APIKEY = 'b'.repeat(72);
const ONE_ADDRESS = { SOCKETS_PER_ADDRESS: '100000', UNAUTHENTICATED_PER_ADDRESS: '100000' };
/** A server-to-client websocket header: 4 bytes for a full-rate frame (load.mjs does not count them). */
const FULL_WIRE_BYTES = 4032 + 4;
const log = (m) => process.stderr.write(`bench: ${m}\n`);

function* steps() {
  yield* STEPS;
  for (let peers = STEPS.at(-1); (peers = roundUp(peers * 1.25)) <= MAX_PEERS; ) yield peers;
}

function runGenerator(shape, url, peers, onWarm) {
  const script = join(root, shape === 'pairs' ? 'bench/load.mjs' : 'bench/load-shapes.mjs');
  return runGeneratorProcess(script, { URL: url, APIKEY, PEERS: String(peers), SECONDS: String(SECONDS), SHAPE: shape, LINE_PEERS: String(LINE_PEERS) }, onWarm);
}

/** The figures of one generator, pairs or shapes, in one form: frames in, delivered, per receiver class. */
function normalise(shape, r) {
  if (shape !== 'pairs') return { ...r, framesIn: r.sentFull + r.sentCompact, forwarded: r.received + r.gaps };
  const full = { receivers: r.peers, frames: [r.received, 0], bytes: [r.received * FULL_WIRE_BYTES, 0], streams: [new Array(r.peers).fill(1), []] };
  return { ...r, framesIn: r.sent, forwarded: r.sent, classes: { full, mobile: { receivers: 0, frames: [0, 0], bytes: [0, 0], streams: [[], []] } } };
}

/** One step: whole lines over as many generators as PEERS_PER_GENERATOR asks for, their figures added up. */
async function runLoad(shape, url, peers, onWarm) {
  const lineSize = shape === 'pairs' ? 2 : LINE_PEERS;
  const lines = peers / lineSize;
  const processes = Math.min(lines, Math.max(1, Math.ceil(peers / PEERS_PER_GENERATOR)));
  const shares = Array.from({ length: processes }, (_, i) => lineSize * (Math.floor(lines / processes) + (i < lines % processes ? 1 : 0)));
  let warmCount = 0;
  let warmed;
  const allWarm = new Promise((resolve) => (warmed = resolve));
  const runs = (await Promise.all(shares.map((n) => runGenerator(shape, url, n, () => (++warmCount === processes ? (warmed(onWarm()), allWarm) : allWarm))))).map((r) => normalise(shape, r));
  const sum = (f) => runs.reduce((a, r) => a + f(r), 0);
  const classes = {};
  for (const name of ['full', 'mobile']) {
    const c = runs.map((r) => r.classes[name]);
    classes[name] = {
      receivers: c.reduce((a, x) => a + x.receivers, 0),
      frames: [0, 1].map((l) => c.reduce((a, x) => a + x.frames[l], 0)),
      bytes: [0, 1].map((l) => c.reduce((a, x) => a + x.bytes[l], 0)),
      streams: [0, 1].map((l) => c.flatMap((x) => x.streams[l])),
    };
  }
  const latency = runs[0].latency.map((_, i) => sum((r) => r.latency[i]));
  const heard = latency.reduce((a, n) => a + n, 0);
  const quantileMs = (q) => {
    let seen = 0;
    for (let i = 0; i < latency.length; i++) if ((seen += latency[i]) >= q * heard) return (i + 1) * runs[0].latencyBinMs;
    return NaN;
  };
  const seconds = Math.max(...runs.map((r) => r.seconds));
  return {
    processes,
    framesIn: sum((r) => r.framesIn),
    received: sum((r) => r.received),
    forwarded: sum((r) => r.forwarded),
    refused: sum((r) => r.refused),
    seconds,
    classes,
    lagging: Math.max(...runs.map((r) => r.lagging)),
    generatorCores: sum((r) => r.cpuSeconds) / seconds,
    busiestGeneratorCores: Math.max(...runs.map((r) => r.cpuSeconds / r.seconds)),
    p50ms: quantileMs(0.5),
    p99ms: quantileMs(0.99),
  };
}

/** The gateway's frame drops by reason (over_budget, compact_over_budget, ...) and its budget exceedances by direction, from its /metrics. */
async function drops(metricsUrl) {
  let text = '';
  try {
    text = await (await fetch(metricsUrl)).text();
  } catch (err) {
    log(`${metricsUrl}: ${err.cause?.message ?? err.message}`);
  }
  const out = {};
  for (const m of text.matchAll(/^studioline_gateway_frame_drops_total\{[^}]*reason="([^"]+)"[^}]*\} (\S+)$/gm)) out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
  // Which way the budget bit: in (a sender's burst, e.g. a generator catching up after a stall) or out (a receiver's downlink).
  for (const m of text.matchAll(/^studioline_gateway_budget_exceeded_total\{direction="([^"]+)"\} (\S+)$/gm)) out[`budget ${m[1]}`] = Number(m[2]);
  return out;
}

/** Steps one shape up until it fails; returns the rows that passed. */
async function ladder(shape, { url, pids, metricsUrl }) {
  const rows = [];
  for (const peers of steps()) {
    let before;
    let dropsBefore;
    let r;
    try {
      r = await runLoad(shape, url, peers, async () => {
        before = usage(pids);
        dropsBefore = await drops(metricsUrl);
      });
    } catch (err) {
      log(`${shape} ${peers} peers: ${err.message}`);
      break;
    }
    const after = usage(pids);
    const dropsAfter = await drops(metricsUrl);
    const gatewayDrops = Object.fromEntries(Object.entries(dropsAfter).map(([k, n]) => [k, n - (dropsBefore[k] ?? 0)]).filter(([, n]) => n > 0));
    const delivered = r.received / Math.max(1, r.forwarded);
    const ok = delivered >= 0.999 && r.lagging < 0.5 && r.refused === 0;
    const row = { peers, delivered, ...r, sendSeconds: SECONDS, gatewayDrops, cpuCores: (after.cpu - before.cpu) / r.seconds, cpuUsPerFrame: ((after.cpu - before.cpu) * 1e6) / Math.max(1, r.framesIn), generatorBound: r.busiestGeneratorCores > GENERATOR_BUSY_CORES || r.lagging >= 0.5 };
    log(`${shape} ${peers} peers: delivered ${(delivered * 100).toFixed(3)} % of ${r.forwarded} forwarded, ${(r.framesIn / SECONDS) | 0} frames/s in, server CPU ${row.cpuCores.toFixed(2)} cores (${row.cpuUsPerFrame.toFixed(1)} µs/frame in), generator to generator p50 ${r.p50ms.toFixed(1)} p99 ${r.p99ms.toFixed(1)} ms, gateway drops ${JSON.stringify(gatewayDrops)}; ${r.processes} generator(s), ${r.generatorCores.toFixed(2)} cores${row.generatorBound ? ' (busy: it may be the limit)' : ''}${ok ? '' : '  <- limit'}`);
    if (!ok) break;
    rows.push(row);
  }
  return rows;
}

/** Says so, with its last output, when a server process ends before the run does (a crash, not a result). */
function watch(name, child, cleanup) {
  let tail = '';
  const keep = (c) => (tail = (tail + c).slice(-3000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let stopping = false;
  cleanup.unshift(() => (stopping = true));
  child.on('exit', (code, signal) => !stopping && log(`${name} exited (${signal ?? code}) during the run:\n${tail}`));
}

async function startTopology(cleanup) {
  if (TOPOLOGY === 'embedded') {
    const home = mkdtempSync(join(tmpdir(), 'studioline-bench-'));
    const s = await startNode([...SERVER_FLAGS, cli, 'serve', '--port', '0'], { APIKEY, ...ONE_ADDRESS, ...BUDGET_ENV, ADMIN_PORT: '0', STUDIOLINE_HOME: home }, (t) => /"address":"(http:\/\/[^"]+)","msg":"gateway listening"/.exec(t)?.[1], { logLevel: 'info' });
    cleanup.push(() => s.child.kill());
    watch('the embedded server', s.child, cleanup);
    return { name: 'embedded (one process)', url: `${s.value.replace('http', 'ws')}/ws`, pids: [s.child.pid], metricsUrl: `${s.value}/metrics` };
  }
  execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
  const port = 6400 + Math.floor(Math.random() * 500);
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--client-output-buffer-limit', 'pubsub 128mb 32mb 60'], { stdio: 'ignore' });
  cleanup.push(() => redis.kill());
  await new Promise((r) => setTimeout(r, 500));
  const env = { REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_PREFIX: `benchshapes${Date.now()}:`, APIKEY, ...ONE_ADDRESS, ...BUDGET_ENV, METRICS_PORT: '0' };
  const relay = await startNode([...SERVER_FLAGS, cli, 'serve', '--role', 'relay'], env, (t) => /relay started/.test(t), { logLevel: 'info' });
  cleanup.push(() => relay.child.kill());
  const gateway = await startNode([...SERVER_FLAGS, cli, 'serve', '--role', 'gateway', '--port', '0'], env, (t) => /"address":"(http:\/\/[^"]+)","msg":"gateway listening"/.exec(t)?.[1], { logLevel: 'info' });
  cleanup.push(() => gateway.child.kill());
  watch('the relay', relay.child, cleanup);
  watch('the gateway', gateway.child, cleanup);
  return { name: 'Redis (redis-server, relay, gateway: 3 processes)', url: `${gateway.value.replace('http', 'ws')}/ws`, pids: [gateway.child.pid, relay.child.pid, redis.pid], metricsUrl: `${gateway.value}/metrics` };
}

/** Measures pairs and the asked shapes on one topology and rewrites BENCHMARKS.md's shapes section. */
export async function runShapes(shape) {
  const shapes = ['pairs', ...(shape === 'all' ? ['group', 'layers'] : [shape])];
  const cleanup = [];
  const loadBefore = loadavg();
  try {
    const topology = await startTopology(cleanup);
    const results = [];
    for (const s of shapes) results.push({ shape: s, rows: await ladder(s, topology) });
    const text = report({ results, topology, budgetBps: BUDGET_BPS, refPeers: REF_PEERS, seconds: SECONDS, linePeers: LINE_PEERS, steps: STEPS, cores: cpus().length, machine: `${cpus().length} × ${cpus()[0].model}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`, load: [loadBefore, loadavg()] });
    console.log('\n' + text);
    // The raw rows too, so that a report can be made again from them (e.g. in another form).
    mkdirSync(join(root, '.artifacts', 'bench'), { recursive: true });
    writeFileSync(join(root, '.artifacts', 'bench', `${BUDGET_BPS ? 'shapes-budget' : 'shapes'}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify({ results, topology: topology.name, budgetBps: BUDGET_BPS }, null, 1));
    const file = join(root, 'BENCHMARKS.md');
    const doc = readFileSync(file, 'utf8');
    // A run with a raised budget has its own section: it does not replace the shipped configuration's figures.
    const section = BUDGET_BPS ? 'shapes-budget' : 'shapes';
    const [startMark, endMark] = [`<!-- ${section}:start -->`, `<!-- ${section}:end -->`];
    if (!doc.includes(startMark) || !doc.includes(endMark)) throw new Error(`BENCHMARKS.md has no ${startMark} ... ${endMark} section to rewrite`);
    writeFileSync(file, doc.split(startMark)[0] + startMark + '\n' + text + endMark + doc.split(endMark)[1]);
    log(`wrote ${file}`);
  } finally {
    for (const c of cleanup) c();
  }
}
