// npm run certify -- --target URL [--peers N] [--duration S] [--scenario certify|over-budget|join-storm]
//                    [--apikey KEY] [--metrics URL ...] [--out DIR] [--budget BPS]
// Runs the k6 certification against any deployment, scrapes the servers' /metrics before and
// after, and writes the certificate (JSON and HTML) with the client-side and server-side figures.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { certificateHtml } from '../loadtest/lib/certificate.js';
import { quantileFromBuckets } from './lib/histogram.mjs';

const root = new URL('..', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    target: { type: 'string' },
    peers: { type: 'string', default: '10' },
    duration: { type: 'string', default: '20' },
    scenario: { type: 'string', default: 'certify' },
    apikey: { type: 'string', default: process.env.APIKEY },
    metrics: { type: 'string', multiple: true },
    out: { type: 'string' },
    budget: { type: 'string', default: '7000000' },
  },
});
const fail = (message) => {
  console.error(`certify: ${message}`);
  process.exit(2);
};
if (!values.target) fail('--target URL is required (the gateway or ingress, e.g. https://calls.example.com)');
if (!values.apikey) fail('an API key is required: --apikey KEY or APIKEY');
if (!['certify', 'over-budget', 'join-storm'].includes(values.scenario)) fail('--scenario must be certify, over-budget or join-storm');
const target = values.target.replace(/\/$/, '');
const metricsUrls = values.metrics ?? [`${target}/metrics`];
const out = resolve(values.out ?? join(root, '.artifacts', 'certificates', `${values.scenario}-${new Date().toISOString().replace(/[:.]/g, '-')}`));
mkdirSync(out, { recursive: true });

const k6 = [process.env.STUDIOLINE_K6, join(homedir(), '.cache/studioline/bin/k6')].find((p) => p && existsSync(p)) ?? 'k6';

async function scrape() {
  const samples = new Map();
  for (const url of metricsUrls) {
    try {
      const res = await fetch(url);
      if (!res.ok) continue;
      for (const line of (await res.text()).split('\n')) {
        const m = /^(studioline_[a-z_]+)(\{[^}]*\})?\s+(\S+)$/.exec(line);
        if (m) samples.set(m[1] + (m[2] ?? ''), (samples.get(m[1] + (m[2] ?? '')) ?? 0) + Number(m[3]));
      }
    } catch {
      /* not reachable from here: the certificate says so */
    }
  }
  return samples;
}

/** A quantile of one histogram (optionally one label set) from the deltas of its buckets. */
function quantile(delta, name, q, labels = '') {
  const buckets = [...delta].filter(([k]) => k.startsWith(`${name}_bucket{`) && k.includes(labels)).map(([k, v]) => [Number(/le="([^"]+)"/.exec(k)[1]), v]);
  return quantileFromBuckets(buckets, q);
}

console.error(`certify: ${values.scenario} with ${values.peers} peers for ${values.duration} s against ${target}`);
const before = await scrape();
const run = spawnSync(
  k6,
  ['run', '-q', '-e', `TARGET=${target}`, '-e', `APIKEY=${values.apikey}`, '-e', `PEERS=${values.peers}`, '-e', `DURATION=${values.duration}`, '-e', `SCENARIO=${values.scenario}`, '-e', `BUDGET_BPS=${values.budget}`, '-e', `OUT=${out}`, join(root, 'loadtest/studioline.js')],
  { stdio: ['ignore', 'inherit', 'inherit'] },
);
if (run.error) fail(`cannot run k6 (${run.error.message}): build it with bash scripts/ci/ensure-tools.sh`);
const after = await scrape();
const certificatePath = join(out, 'certificate.json');
if (!existsSync(certificatePath)) fail(`k6 wrote no certificate (exit ${run.status})`);
const cert = JSON.parse(readFileSync(certificatePath, 'utf8'));
if (after.size) {
  const delta = new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]));
  const sum = (prefix) => [...delta].filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);
  const drops = [...delta].filter(([k, v]) => k.startsWith('studioline_gateway_frame_drops_total{') && v > 0).map(([k, v]) => `${/reason="([^"]+)"/.exec(k)[1]} ${v}`);
  cert.server = {
    'metrics scraped from': metricsUrls.join(', '),
    'frames in': sum('studioline_gateway_frames_in_total'),
    'frames out': sum('studioline_gateway_frames_out_total'),
    'bytes in': sum('studioline_gateway_bytes_in_total'),
    'bytes out': sum('studioline_gateway_bytes_out_total'),
    'frames dropped, by reason': drops.join(', ') || 'none',
    'budget exceeded, frames in': sum('studioline_gateway_budget_exceeded_total{direction="in"}'),
    'budget exceeded, frames out': sum('studioline_gateway_budget_exceeded_total{direction="out"}'),
    'server-added latency p50 (ms)': (quantile(delta, 'studioline_relay_hop_latency_seconds', 0.5) ?? NaN) * 1000,
    'server-added latency p99 (ms)': (quantile(delta, 'studioline_relay_hop_latency_seconds', 0.99) ?? NaN) * 1000,
    'per-peer bitrate out p99 (bit/s)': quantile(delta, 'studioline_gateway_peer_bitrate_bps', 0.99, 'direction="out"'),
    'per-peer bitrate in max bucket reached (bit/s)': quantile(delta, 'studioline_gateway_peer_bitrate_bps', 1, 'direction="in"'),
  };
} else {
  cert.server = { note: `no /metrics reachable at ${metricsUrls.join(', ')}: server-side figures not included` };
}
writeFileSync(certificatePath, JSON.stringify(cert, null, 2));
writeFileSync(join(out, 'certificate.html'), certificateHtml(cert));
console.log(`certificate: ${join(out, 'certificate.html')} (${cert.passed ? 'PASSED' : 'FAILED'})`);
process.exit(run.status ?? 1);
