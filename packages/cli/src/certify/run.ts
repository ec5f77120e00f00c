/**
 * One certification run (or one shard of a distributed one): scrape /metrics, start the worker
 * processes with their share of the lines, show progress through ramp up, hold and ramp down,
 * gather their results, scrape again, and judge. The caller writes the outputs.
 */
import { fork, ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Certificate, Measurements, finalize, mergeLossSeries } from './certificate.js';
import { LatencyHistogram } from './histogram.js';
import { CertifyOptions } from './options.js';
import { WorkerPlan, linkOrigin, planShard } from './plan.js';
import { WorkerMessage, WorkerProgress, WorkerResult } from './results.js';
import { expandMetricsUrls, scrape } from './server-view.js';
import { temporaryKey, waitReady } from './access.js';

/** Time for the workers to start and load before the first line joins. */
const START_DELAY_MS = 1500;
/** A worker that says nothing for this long past the planned end has failed. */
const GRACE_MS = 60_000;

export interface Progress {
  (line: string, final?: boolean): void;
}

function startWorker(plan: WorkerPlan, onProgress: (p: WorkerProgress) => void): { child: ChildProcess; done: Promise<WorkerResult> } {
  const child = fork(join(__dirname, 'worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const done = new Promise<WorkerResult>((resolve, reject) => {
    let result: WorkerResult | undefined;
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'progress') onProgress(m.progress);
      else if (m.type === 'result') result = m.result;
      else reject(new Error(`certifier worker ${plan.worker} failed: ${m.message}`));
    });
    child.on('exit', (code, signal) => (result ? resolve(result) : reject(new Error(`certifier worker ${plan.worker} exited (${signal ?? code}) without results`))));
  });
  child.send({ type: 'start', plan });
  return { child, done };
}

export async function certify(options: CertifyOptions, progress: Progress): Promise<Certificate> {
  if (options.waitReadySeconds > 0) await waitReady(linkOrigin(options.url), options.waitReadySeconds);
  if (options.key) return certifyWithKey({ ...options, key: options.key }, progress);
  const temporary = await temporaryKey(options.adminUrl as string, options.adminToken as string, `certify shard ${options.shardIndex} (temporary)`);
  try {
    return await certifyWithKey({ ...options, key: temporary.secret }, progress);
  } finally {
    await temporary.revoke();
  }
}

async function certifyWithKey(o: CertifyOptions & { key: string }, progress: Progress): Promise<Certificate> {
  const metricsUrls = await expandMetricsUrls(o.metrics.length ? o.metrics : [`${linkOrigin(o.url)}/metrics`]);
  const before = await Promise.all(metricsUrls.map((u) => scrape(u)));
  for (const s of before) if (!s.samples) progress(`cannot read ${s.url} (${s.error}): the certificate will lack the server's view`, true);
  const startEpochMs = Date.now() + START_DELAY_MS;
  const plans = planShard(o, startEpochMs).filter((p) => p.lines.length);
  const peers = plans.reduce((n, p) => n + p.lines.reduce((m, l) => m + l.peers.length, 0), 0);
  progress(`certify: ${peers} peers (shard ${o.shardIndex + 1} of ${o.shards}) in lines of ${o.linesOf}, ${plans.length} worker process${plans.length === 1 ? '' : 'es'}, ${o.durationSeconds} s against ${linkOrigin(o.url)} (key ${o.key.length > 12 ? `${o.key.slice(0, 6)}…` : 'given'})`, true);
  const latest = new Map<number, WorkerProgress>();
  const workers = plans.map((plan) => startWorker(plan, (p) => latest.set(p.worker, p)));
  const started = Date.now();
  let lastCpu = 0;
  let lastAt = started;
  const ticker = setInterval(() => {
    const t = (Date.now() - startEpochMs) / 1000;
    const phase = t < 0 ? 'starting' : t < o.rampUpSeconds ? 'ramp up' : t < o.durationSeconds - o.rampDownSeconds ? 'hold' : t < o.durationSeconds ? 'ramp down' : 'finishing';
    const all = [...latest.values()];
    const sum = (f: (p: WorkerProgress) => number) => all.reduce((n, p) => n + f(p), 0);
    const cpu = sum((p) => p.cpuSeconds);
    const cores = (cpu - lastCpu) / ((Date.now() - lastAt) / 1000);
    lastCpu = cpu;
    lastAt = Date.now();
    progress(`${phase.padEnd(9)} ${Math.max(0, t).toFixed(0).padStart(4)}/${o.durationSeconds} s  peers on ${String(sum((p) => p.activePeers)).padStart(5)}/${peers}  frames sent ${sum((p) => p.sent)}, heard ${sum((p) => p.received)}  certifier ${cores.toFixed(2)} cores`);
  }, 1000);
  const deadline = setTimeout(() => workers.forEach((w) => w.child.kill('SIGKILL')), START_DELAY_MS + o.durationSeconds * 1000 + GRACE_MS);
  let results: WorkerResult[];
  try {
    results = await Promise.all(workers.map((w) => w.done));
  } finally {
    clearInterval(ticker);
    clearTimeout(deadline);
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  }
  progress(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`, true);
  const after = await Promise.all(metricsUrls.map((u) => scrape(u)));
  const latency = new LatencyHistogram();
  for (const r of results) latency.addSparse(r.latency.counts, r.latency.max);
  const m: Measurements = {
    run: {
      target: linkOrigin(o.url),
      startedAt: new Date(startEpochMs).toISOString(),
      endedAt: new Date().toISOString(),
      peers: o.peers,
      linesOf: o.linesOf,
      durationSeconds: o.durationSeconds,
      rampUpSeconds: o.rampUpSeconds,
      holdSeconds: Math.round((o.durationSeconds - o.rampUpSeconds - o.rampDownSeconds) * 1000) / 1000,
      rampDownSeconds: o.rampDownSeconds,
      shards: o.shards,
      overBudgetBps: o.overBudgetBps,
      mobileLines: o.mobileLines,
    },
    limits: { budgetBps: o.budgetBps, maxLoss: o.maxLoss, maxP99Ms: o.maxP99Ms, lateMs: o.lateMs, maxJoinMs: o.maxJoinMs },
    shardsIncluded: [o.shardIndex],
    peers: results.flatMap((r) => r.peers).sort((a, b) => a.line - b.line || a.id.localeCompare(b.id)),
    latency: { counts: latency.toSparse(), max: latency.max },
    loss: mergeLossSeries(results.map((r) => r.loss)),
    certifier: results.map((r) => r.load),
    machineCores: [availableParallelism()],
    scrapes: { before, after },
  };
  return finalize(m);
}
