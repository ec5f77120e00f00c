/**
 * The certificate as one self-contained HTML page: verdict, thresholds, headline figures and three
 * plots (delivered bitrate per peer, latency CDF, loss over time) drawn by uPlot (MIT; small,
 * maintained, no dependencies), inlined with its stylesheet: the page makes no request at all,
 * so it can be mailed, archived and opened offline.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LatencyHistogram } from './histogram.js';
import { Certificate } from './certificate.js';

const escape = (s: unknown) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
/** Inline script text must not close its element early. */
const inlineScript = (s: string) => s.replace(/<\/(script)/gi, '<\\/$1');

function uplotAssets(): { js: string; css: string } {
  const dist = join(dirname(require.resolve('uplot/package.json')), 'dist');
  return { js: readFileSync(join(dist, 'uPlot.iife.min.js'), 'utf8'), css: readFileSync(join(dist, 'uPlot.min.css'), 'utf8') };
}

const BIN_BPS = 100_000;

function plotData(cert: Certificate) {
  const normal = cert.peers.filter((p) => p.role === 'normal');
  const bins = new Map<number, [number, number]>();
  for (const p of normal) {
    for (const [v, k] of [[p.upBps, 0], [p.downBps, 1]] as const) {
      const b = Math.floor(v / BIN_BPS);
      const cur = bins.get(b) ?? [0, 0];
      cur[k]++;
      bins.set(b, cur);
    }
  }
  const keys = [...bins.keys()].sort((a, b) => a - b);
  const hist = new LatencyHistogram();
  hist.addSparse(cert.latency.counts, cert.latency.max);
  const cdf = hist.cdf();
  const loss = cert.loss.expected.map((e, i) => (e ? (100 * Math.max(0, e - cert.loss.received[i])) / e : null));
  return {
    bitrate: [keys.map((k) => (k * BIN_BPS) / 1e6), keys.map((k) => bins.get(k)?.[0] ?? 0), keys.map((k) => bins.get(k)?.[1] ?? 0)],
    cdf: [cdf.map(([ms]) => ms), cdf.map(([, share]) => share * 100)],
    loss: [cert.loss.expected.map((_, i) => cert.loss.startEpochSecond + i), loss],
    budgetMbps: cert.limits.budgetBps / 1e6,
  };
}

const PLOTS = `
const data = JSON.parse(document.getElementById('plot-data').textContent);
const width = () => Math.min(900, document.body.clientWidth - 20);
new uPlot({ title: 'Delivered bitrate per peer (peers per 0.1 Mbit/s)', width: width(), height: 260,
  scales: { x: { time: false, range: (u, min, max) => [0, Math.max(data.budgetMbps * 1.1, max + 0.2)] } },
  axes: [{ label: 'Mbit/s (budget ' + data.budgetMbps + ')' }, { label: 'peers' }],
  series: [{ label: 'Mbit/s' },
    { label: 'sent (up)', stroke: '#2458a6', fill: '#2458a633', paths: uPlot.paths.bars({ size: [0.45, 40], align: -1 }) },
    { label: 'received (down)', stroke: '#0a6b2b', fill: '#0a6b2b33', paths: uPlot.paths.bars({ size: [0.45, 40], align: 1 }) }] },
  data.bitrate, document.getElementById('plot-bitrate'));
new uPlot({ title: 'Mouth-to-ear latency, cumulative', width: width(), height: 260,
  scales: { x: { time: false, distr: 3 }, y: { range: [0, 100] } },
  axes: [{ label: 'ms (log)' }, { label: '% of frames' }],
  series: [{ label: 'ms' }, { label: 'frames at or below', stroke: '#7a3db8', width: 2 }] },
  data.cdf, document.getElementById('plot-latency'));
new uPlot({ title: 'Frames lost, by second sent', width: width(), height: 260,
  axes: [{}, { label: '% lost' }],
  scales: { y: { range: (u, min, max) => [0, Math.max(1, max)] } },
  series: [{}, { label: 'lost', stroke: '#b00020', width: 2, spanGaps: true }] },
  data.loss, document.getElementById('plot-loss'));
`;

function table(rows: [string, unknown][]): string {
  return `<table>${rows.map(([k, v]) => `<tr><th scope="row">${escape(k)}</th><td>${escape(v ?? '-')}</td></tr>`).join('')}</table>`;
}

export function certificateHtml(cert: Certificate): string {
  const { js, css } = uplotAssets();
  const s = cert.summary;
  const mb = (bps: number) => `${(bps / 1e6).toFixed(3)} Mbit/s`;
  const kb = (bps: number) => `${(bps / 1e3).toFixed(1)} kbit/s`;
  const budgets = cert.budgets.map((b) => `${b.layer} layer: ${b.layer === 'compact' ? `${kb(b.budgetBps)} per speaker heard` : `${mb(b.budgetBps)} each way`} (${b.peers} peer${b.peers === 1 ? '' : 's'}; highest ${b.layer === 'compact' ? kb(b.highestBps) : mb(b.highestBps)}, ${escape(b.highestPeer ?? '-')})`).join('<br>');
  const sv = cert.server;
  const thresholds = cert.thresholds
    .map((t) => `<tr class="${t.ok ? 'ok' : 'bad'}"><td>${escape(t.name)}</td><td>${escape(t.limit)}</td><td>${escape(t.measured)}</td><td>${t.ok ? 'pass' : 'FAIL'}</td></tr>`)
    .join('');
  const peers = cert.peers
    .map(
      (p) =>
        `<tr${p.error || p.lost ? ' class="bad"' : ''}><td>${escape(p.id)}</td><td>${p.role}</td><td>${p.layer ?? 'full'}</td><td>${p.budgetBps !== undefined ? (p.budgetBps / 1e6).toFixed(3) : '-'}</td><td>${(p.upBps / 1e6).toFixed(3)}</td><td>${(p.downBps / 1e6).toFixed(3)}</td><td>${p.received}/${p.expected}</td><td>${p.lost}</td><td>${p.late}</td><td>${p.decryptFailed}</td><td>${p.latencyMs ? `${p.latencyMs.p50} / ${p.latencyMs.p95} / ${p.latencyMs.p99}` : '-'}</td><td>${p.audio ? `${p.audio.heardHz} Hz, ${p.audio.heardDb} dBFS ${p.audio.ok ? 'ok' : 'WRONG'}` : '-'}</td><td>${escape(p.error ?? '')}</td></tr>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Studioline certificate: ${cert.passed ? 'PASSED' : 'FAILED'}, ${s.peers} peers</title>
<style>${css}
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem;font-size:.9rem}td,th{border:1px solid #ccc;padding:.25rem .45rem;text-align:left;vertical-align:top}
tr.ok td:last-child{color:#0a6b2b;font-weight:600}tr.bad td:last-child{color:#b00020;font-weight:700}.verdict{font-size:1.5rem;font-weight:700;color:${cert.passed ? '#0a6b2b' : '#b00020'}}
.plot{margin:1rem 0}</style></head><body>
<h1>Studioline bandwidth certificate</h1>
<p class="verdict">${cert.passed ? 'PASSED' : `FAILED: ${escape(cert.broken.join(', '))}`}</p>
${table([
  ['target', cert.run.target],
  ['run', `${cert.run.startedAt} to ${cert.run.endedAt}`],
  ['peers', `${s.peers} in ${s.lines} lines of ${cert.run.linesOf}${cert.overBudget ? ', plus one over-budget line' : ''}${cert.mobile.length ? `, plus ${cert.mobile.length} mobile line${cert.mobile.length === 1 ? '' : 's'} (a full-rate peer and a mobile=1 one)` : ''}`],
  ['shape', `ramp up ${cert.run.rampUpSeconds} s, hold ${cert.run.holdSeconds} s, ramp down ${cert.run.rampDownSeconds} s`],
  ['audio', 'real-rate 16-bit PCM at 200 kHz (3.2 Mbit/s of audio each way), SFrame AES-256-GCM with a fresh key per line'],
  ['budget per layer', budgets || `${mb(cert.limits.budgetBps)} each way`],
  ['shards', `${cert.shardsIncluded.length} of ${cert.run.shards}`],
])}
<h2>Thresholds</h2><table><tr><th>threshold</th><th>limit</th><th>measured</th><th>result</th></tr>${thresholds}</table>
<h2>Measured by the peers</h2>
${table([
  ['frames sent / expected / received', `${s.framesSent} / ${s.framesExpected} / ${s.framesReceived}`],
  ['delivered', `${(s.deliveredShare * 100).toFixed(4)} %`],
  ['lost / late / reordered / failed to decrypt', `${s.lost} / ${s.late} (over ${cert.limits.lateMs} ms) / ${s.reordered} / ${s.decryptFailed}`],
  ['mouth-to-ear latency p50 / p95 / p99 / max', `${s.latencyMs.p50} / ${s.latencyMs.p95} / ${s.latencyMs.p99} / ${s.latencyMs.max} ms`],
  ['bitrate up per peer, min / median / max', `${mb(s.upBps.min)} / ${mb(s.upBps.median)} / ${mb(s.upBps.max)}`],
  ['bitrate down per peer, min / median / max', `${mb(s.downBps.min)} / ${mb(s.downBps.median)} / ${mb(s.downBps.max)}`],
  ['join time p95', `${s.joinP95Ms} ms`],
  ['tone and level checked', `${s.audioOk} of ${s.audioChecked} receivers correct`],
])}
<div class="plot" id="plot-bitrate"></div><div class="plot" id="plot-latency"></div><div class="plot" id="plot-loss"></div>
${cert.overBudget ? `<h2>Over-budget sender</h2>${table([
  ['sent', mb(cert.overBudget.flooderSentBps)],
  ['its partner received', mb(cert.overBudget.partnerReceivedBps)],
  ['it heard of its partner', `${(cert.overBudget.flooderHeardShare * 100).toFixed(3)} %`],
  ['gateway: frames over budget (in)', cert.overBudget.serverBudgetExceededIn],
])}` : ''}
${cert.mobile.length ? `<h2>Mobile receivers (compact layer only)</h2><table><tr><th>peer</th><th>down</th><th>its budget</th><th>up</th><th>heard of its partner's compact frames</th><th>full-rate frames received</th></tr>${cert.mobile.map((v) => `<tr><td>${escape(v.id)}</td><td>${kb(v.downBps)}</td><td>${kb(v.budgetBps)}</td><td>${kb(v.upBps)}</td><td>${v.heard} of ${v.expected}</td><td>${v.fullRateReceived}</td></tr>`).join('')}</table>` : ''}
<h2>Measured by the servers (/metrics, before and after)</h2>
${sv.scrapedFrom.length ? table([
  ['scraped', sv.scrapedFrom.join(', ')],
  ['frames in / out', `${sv.framesIn} / ${sv.framesOut}`],
  ['bytes in / out', `${sv.bytesIn} / ${sv.bytesOut}`],
  ['drops by reason', Object.entries(sv.dropsByReason).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'],
  ['budget exceeded, frames in / out', `${sv.budgetExceededIn} / ${sv.budgetExceededOut}`],
  ['server-added latency p50 / p99', `${sv.serverAddedP50Ms ?? '-'} / ${sv.serverAddedP99Ms ?? '-'} ms`],
]) : `<p>No /metrics could be read (${escape(sv.unreachable.join(', ') || 'none given')}): the server-side view is missing.</p>`}
<h2>The certifier</h2>
${table([
  ['processes', `${cert.certifier.length} (${cert.certifier.map((c) => `shard ${c.shard} worker ${c.worker}: ${c.peers} peers, ${c.cpuSeconds} s CPU in ${c.wallSeconds} s, event loop p99 ${c.eventLoopP99Ms} ms, ${c.maxRssMb} MB`).join('; ')})`],
  ['CPU', `${s.certifierCores} cores of ${Math.max(0, ...cert.machineCores)} on its machine${cert.machineCores.length > 1 ? 's' : ''}; ${s.certifierCpuUsPerFrame} µs per frame sent or received`],
  ['frames it could not send on time', s.unsent],
])}
<h2>Per peer</h2>
<table><tr><th>peer</th><th>role</th><th>layer</th><th>budget Mbit/s</th><th>up Mbit/s</th><th>down Mbit/s</th><th>received</th><th>lost</th><th>late</th><th>decrypt failed</th><th>latency p50/p95/p99 ms</th><th>heard</th><th>error</th></tr>${peers}</table>
<script type="application/json" id="plot-data">${inlineScript(JSON.stringify(plotData(cert)))}</script>
<script>${inlineScript(js)}</script>
<script>${PLOTS}</script>
</body></html>
`;
}
