/**
 * Issue 5, acceptance 1 and 4: during a call, /metrics agrees with the traffic the peers counted,
 * and the per-peer bitrate histogram shows every peer under the budget; the metrics documentation,
 * the Grafana dashboard and the alert rules name only metrics that the services export, in PromQL
 * that parses.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { Embedded, metricValue, startEmbedded } from './helpers/embedded.js';
import { call, newLink } from './helpers/peers.js';
import { REPO } from './helpers/processes.js';
import { tool } from './helpers/tools.js';

/** Every metric name the services export (histograms with their series suffixes). */
async function exportedNames(server: Embedded): Promise<Set<string>> {
  const names = new Set<string>();
  for (const m of await server.app.registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
  }
  return names;
}

/** The metric names a PromQL expression uses; fails on a syntax error. */
async function metricsIn(expr: string): Promise<string[]> {
  const { parser } = await import('@prometheus-io/lezer-promql');
  const names: string[] = [];
  let error = false;
  parser.parse(expr).iterate({
    enter: (n: { type: { isError: boolean }; name: string; from: number; to: number }) => {
      if (n.type.isError) error = true;
      if (n.name === 'Identifier') names.push(expr.slice(n.from, n.to));
    },
  });
  assert.equal(error, false, `PromQL does not parse: ${expr}`);
  return names;
}

describe('metrics', () => {
  let server: Embedded;
  before(async () => {
    server = await startEmbedded();
  });
  after(() => server.stop());

  it('agree with the traffic of a 2-peer call, and show every peer under the budget', async (t) => {
    const before = await server.metrics();
    const link = newLink(server.url, server.apiKey);
    const [a, b] = await call(link, link, 4);
    await new Promise((r) => setTimeout(r, 1100)); // one more bitrate observation
    const m = await server.metrics();
    const delta = (name: string) => metricValue(m, name) - metricValue(before, name);
    const within1pct = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) <= expected * 0.01, `${what}: /metrics ${actual}, peers ${expected}`);
    within1pct(delta('studioline_gateway_frames_in_total'), a.sent + b.sent, 'frames in');
    within1pct(delta('studioline_gateway_bytes_in_total'), a.bytesSent + b.bytesSent, 'bytes in');
    within1pct(delta('studioline_gateway_frames_out_total'), a.received + b.received, 'frames out');
    within1pct(delta('studioline_gateway_bytes_out_total'), a.bytesReceived + b.bytesReceived, 'bytes out');
    for (const direction of ['in', 'out']) {
      const count = metricValue(m, 'studioline_gateway_peer_bitrate_bps_count', { direction });
      const underBudget = metricValue(m, 'studioline_gateway_peer_bitrate_bps_bucket', { direction, le: '7000000' });
      assert.ok(count >= 6, `${count} bitrate observations (${direction})`);
      assert.equal(underBudget, count, `every ${direction} observation is at most 7 Mbit/s`);
    }
    const latencyCount = delta('studioline_relay_hop_latency_seconds_count');
    assert.equal(latencyCount, a.received + b.received, 'a latency observation per delivered frame');
    t.diagnostic(`${a.sent + b.sent} frames in, ${a.received + b.received} out; mean server-added latency ${((delta('studioline_relay_hop_latency_seconds_sum') / latencyCount) * 1e6).toFixed(0)} µs`);
  });

  it('can be served on their own port, off the public one', async () => {
    const { createServer } = await import('node:net');
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as { port: number }).port;
        probe.close(() => resolve(p));
      });
    });
    const separate = await startEmbedded({ metricsPort: port });
    try {
      const onMetricsPort = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(onMetricsPort.status, 200);
      assert.match(await onMetricsPort.text(), /^studioline_gateway_peers 0$/m);
      assert.doesNotMatch(await (await fetch(`${separate.url}/metrics`)).text(), /studioline_gateway_peers/, 'not on the public port');
    } finally {
      await separate.stop();
    }
  });

  it('are documented in docs/metrics.md, exactly', async () => {
    const documented = new Set([...readFileSync(join(REPO, 'docs/metrics.md'), 'utf8').matchAll(/^\| `(studioline_[a-z_]+)` \|/gm)].map((m) => m[1]));
    const exported = new Set((await server.app.registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => !/^studioline_(process|nodejs)_/.test(n)));
    assert.deepEqual([...exported].filter((n) => !documented.has(n)), [], 'exported but not documented');
    assert.deepEqual([...documented].filter((n) => !exported.has(n)), [], 'documented but not exported');
  });

  it('the Grafana dashboard queries parse and name only exported metrics', async () => {
    const names = await exportedNames(server);
    const dashboard = JSON.parse(readFileSync(join(REPO, 'charts/studioline/dashboards/studioline.json'), 'utf8'));
    const titles = ['Calls', 'Peers', 'Bitrate', 'Budget', 'drops', 'Auth failures', 'relays', 'Redis', 'latency'];
    for (const word of titles) assert.ok(dashboard.panels.some((p: { title: string }) => p.title.toLowerCase().includes(word.toLowerCase())), `a panel about ${word}`);
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) for (const name of await metricsIn(target.expr)) assert.ok(names.has(name), `panel "${panel.title}" uses ${name}, which nothing exports`);
    }
  });

  it('the alert rules parse and name only exported metrics', { skip: tool('helm').skip }, async () => {
    const names = await exportedNames(server);
    const rendered = execFileSync(tool('helm').path!, ['template', 'x', join(REPO, 'charts/studioline'), '--set', 'metrics.prometheusRule.enabled=true'], { encoding: 'utf8' });
    const rule = YAML.parseAllDocuments(rendered).map((d) => d.toJSON()).find((o) => o?.kind === 'PrometheusRule');
    const alerts = rule.spec.groups.flatMap((g: { rules: { alert: string; expr: string }[] }) => g.rules);
    assert.deepEqual(alerts.map((r: { alert: string }) => r.alert).sort(), ['StudiolineAuthFailureSpike', 'StudiolineBudgetExceeded', 'StudiolineFrameDrops', 'StudiolineRedisDown', 'StudiolineRelayMissing']);
    for (const r of alerts) for (const name of await metricsIn(r.expr)) assert.ok(names.has(name), `alert ${r.alert} uses ${name}, which nothing exports`);
  });
});
