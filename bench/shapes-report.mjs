// The markdown of a shapes run (bench/shapes.mjs): what BENCHMARKS.md's shapes section shows.

const NAMES = {
  pairs: 'pairs (baseline): 1:1 full-rate lines',
  group: 'group: lines of {n}, all speaking, loudest 2 forwarded',
  layers: 'layers: lines of {n}, every other member mobile',
};
/** The certificate's mouth-to-ear limit: a frame later than this is as good as lost to a caller. */
const P99_LIMIT_MS = 50;
const us = (row) => (row ? `${row.cpuUsPerFrame.toFixed(1)} µs` : '-');
const ratio = (a, b) => (a && b ? (a / b).toFixed(2) : '-');
const kbps = (bytes, receivers, seconds) => (receivers ? (bytes * 8) / receivers / seconds / 1000 : 0);
const spread = (xs) => (xs.length ? (Math.min(...xs) === Math.max(...xs) ? `${xs[0]}` : `${Math.min(...xs)}-${Math.max(...xs)}`) : '-');

/** The row at `peers`, or the highest that passed below it. */
function rowAt(rows, peers) {
  return rows.find((r) => r.peers === peers) ?? rows.filter((r) => r.peers < peers).at(-1);
}

export function report({ results, topology, budgetBps, refPeers, seconds, linePeers, steps, machine, cores, load }) {
  const name = (s) => NAMES[s].replace('{n}', linePeers);
  const pairs = results.find((r) => r.shape === 'pairs');
  const pairsBest = pairs.rows.at(-1);
  const pairsRef = rowAt(pairs.rows, refPeers);
  const capacity = [
    `| shape | peers carried (>= 99.9 % of forwarded frames) | ratio to pairs | of those, with p99 <= ${P99_LIMIT_MS} ms (generator to generator) | frames in per peer per second | server CPU per frame in, at ${refPeers} peers | ratio to pairs at that step | at the highest step: CPU per frame in, server cores | generators there (cores each) | generator to generator p50 / p99 there | gateway drops by reason there |`,
    '|---|---:|---:|---|---:|---:|---:|---|---|---|---|',
    ...results.map(({ shape, rows }) => {
      const best = rows.at(-1);
      const ref = rowAt(rows, refPeers);
      if (!best) return `| ${name(shape)} | below ${steps[0]} | - | - | - | - | - | - | - | - | - |`;
      const timely = rows.filter((r) => r.p99ms <= P99_LIMIT_MS).at(-1);
      const pairsTimely = pairs.rows.filter((r) => r.p99ms <= P99_LIMIT_MS).at(-1);
      return `| ${name(shape)} | ${best.peers} | ${ratio(best.peers, pairsBest?.peers)} | ${timely ? `${timely.peers} (${ratio(timely.peers, pairsTimely?.peers)})` : 'none'} | ${(best.framesIn / best.sendSeconds / best.peers).toFixed(0)} | ${us(ref)}${ref && ref.peers !== refPeers ? ` (at ${ref.peers})` : ''} | ${ratio(ref?.cpuUsPerFrame, ref && pairs.rows.find((p) => p.peers === ref.peers)?.cpuUsPerFrame)} | ${us(best)}, ${best.cpuCores.toFixed(2)} cores | ${best.processes} × ${(best.generatorCores / best.processes).toFixed(2)}${best.generatorBound ? ' (busy)' : ''} | ${best.p50ms.toFixed(1)} / ${best.p99ms.toFixed(1)} ms | ${Object.entries(best.gatewayDrops).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'} |`;
    }),
  ];
  const perReceiver = [
    `| shape (at ${refPeers} peers) | receivers | how many | full layer: streams each, kbit/s each | compact layer: streams each, kbit/s each | delivered per receiver | ratio to a pairs receiver |`,
    '|---|---|---:|---|---|---:|---:|',
  ];
  // A 1:1 receiver gets one stream whatever the load: its rate at any step is the reference.
  const pairsKbps = pairsRef ? kbps(pairsRef.classes.full.bytes[0], pairsRef.classes.full.receivers, pairsRef.sendSeconds) : 0;
  for (const { shape, rows } of results) {
    const ref = rowAt(rows, refPeers);
    if (!ref) continue;
    for (const [cls, label] of [['full', 'full-rate'], ['mobile', 'mobile (compact only)']]) {
      const c = ref.classes[cls];
      if (!c.receivers) continue;
      const layer = (l) => `${spread(c.streams[l])}, ${kbps(c.bytes[l], c.receivers, ref.sendSeconds).toFixed(1)}`;
      const total = kbps(c.bytes[0] + c.bytes[1], c.receivers, ref.sendSeconds);
      perReceiver.push(`| ${name(shape)}${ref.peers !== refPeers ? ` (at ${ref.peers})` : ''} | ${label} | ${c.receivers} | ${layer(0)} | ${layer(1)} | ${total >= 1000 ? `${(total / 1000).toFixed(3)} Mbit/s` : `${total.toFixed(1)} kbit/s`} | ${ratio(total, pairsKbps)} |`);
    }
  }
  const f = (l) => l.map((x) => x.toFixed(2)).join(' ');
  const busy = Math.max(load[0][0], load[1][0]) > cores;
  return [
    `Command: \`${budgetBps ? `BENCH_BUDGET_BPS=${budgetBps} ` : ''}npm run bench -- --shape ${results.length > 2 ? 'all' : results[1]?.shape ?? 'pairs'}\` (steps ${steps.join(', ')} peers, then a quarter more each until one fails; ${seconds} s each after 1 s of warm-up).`,
    `Topology: ${topology.name}, per-peer budget ${budgetBps ? `BUDGET_BPS=${budgetBps} (\`BENCH_BUDGET_BPS\`)` : 'the default BUDGET_BPS (7 Mbit/s)'}. Machine: ${machine}; load average ${f(load[0])} before, ${f(load[1])} after (the machine is shared with other sessions: compare ratios within this run).`,
    '',
    ...(busy ? [`**The machine was busy during this run (load average over ${cores} on ${cores} cores): these figures measure that contention as much as Studioline; re-run on a quiet machine.**`, ''] : []),
    ...capacity,
    '',
    ...perReceiver,
    '',
  ].join('\n');
}
