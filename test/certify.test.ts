/**
 * Issue 5, acceptance 2 and 3: CI certifies a short run (10 peers, 20 s) against the embedded server
 * and against a Redis topology (separate gateway and relay processes, Redis in a container), and
 * shows the over-budget scenario throttling a 10 Mbit/s sender to the budget (k6 and the metrics
 * agree) while its partner and the other lines are unaffected. The certificates stay in
 * .artifacts/certificates/.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateApiKey } from '@studioline/server-kit';
import { requireDocker } from './helpers/env.js';
import { Embedded, startEmbedded } from './helpers/embedded.js';
import { REPO, ServiceProcess, startGateway, startRelay } from './helpers/processes.js';
import { TestRedis, startRedis } from './helpers/redis.js';
import { tool } from './helpers/tools.js';

const k6 = tool('k6');

/** Runs `npm run certify` (asynchronously: the embedded server lives in this process). */
async function certify(name: string, target: string, apiKey: string, args: string[]): Promise<{ status: number | null; cert: Record<string, any>; output: string }> {
  const out = join(REPO, '.artifacts', 'certificates', name);
  const child = spawn(process.execPath, [join(REPO, 'scripts/certify.mjs'), '--target', target, '--apikey', apiKey, '--out', out, ...args], {
    env: { ...process.env, STUDIOLINE_K6: k6.path },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c) => (output += c));
  child.stderr.on('data', (c) => (output += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(timer);
  return { status, cert: JSON.parse(readFileSync(join(out, 'certificate.json'), 'utf8')), output };
}

describe('k6 certification', { skip: k6.skip }, () => {
  let server: Embedded;
  before(async () => {
    server = await startEmbedded();
  });
  after(() => server.stop());

  it('certifies the embedded server: 10 peers for 20 s, every frame delivered, every peer within budget', async (t) => {
    const { status, cert, output } = await certify('embedded', server.url, server.apiKey, ['--peers', '10', '--duration', '20']);
    assert.equal(status, 0, output);
    assert.equal(cert.passed, true);
    assert.equal(cert.client['delivered (share of frames)'], 1);
    assert.equal(cert.server['frames out'], cert.client['frames received'], 'the servers counted what the peers received');
    t.diagnostic(`embedded: latency p99 ${cert.client['latency p99 (ms)']} ms (k6, ms resolution), server-added p99 ${cert.server['server-added latency p99 (ms)'].toFixed(3)} ms`);
  });

  it('throttles a 10 Mbit/s sender to the budget; its partner and the other lines are unaffected', async (t) => {
    const { status, cert, output } = await certify('over-budget', server.url, server.apiKey, ['--peers', '4', '--duration', '8', '--scenario', 'over-budget']);
    assert.equal(status, 0, output);
    const partnerMin = cert.thresholds.find((x: { metric: string; condition: string }) => x.metric === 'peer_rx_bitrate{role:partner}' && x.condition.startsWith('min'));
    assert.ok(partnerMin?.ok, 'the partner received the budget’s worth');
    assert.ok(cert.server['budget exceeded, frames in'] > 0, 'the metrics show the throttling too');
    assert.match(cert.server['frames dropped, by reason'], /over_budget/);
    t.diagnostic(`over-budget: partner received ${Math.round(cert.client['received bitrate per peer, max (bit/s)'])} bit/s at most; ${cert.server['budget exceeded, frames in']} frames dropped at the budget`);
  });
});

describe('k6 certification through Redis', { skip: k6.skip ?? requireDocker() }, () => {
  let redis: TestRedis;
  const processes: ServiceProcess[] = [];
  let gateway: ServiceProcess & { url: string };
  const apiKey = generateApiKey();

  before(async () => {
    redis = await startRedis();
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: redis.prefix(), APIKEY: apiKey };
    processes.push(await startRelay(env));
    gateway = await startGateway(env);
    processes.push(gateway);
  });
  after(async () => {
    await Promise.all(processes.map((p) => p.kill('SIGKILL')));
    await redis?.stop();
  });

  it('certifies gateway + relay + Redis as separate processes: 10 peers for 20 s', async (t) => {
    const { status, cert, output } = await certify('redis-topology', gateway.url, apiKey, ['--peers', '10', '--duration', '20']);
    assert.equal(status, 0, output);
    assert.equal(cert.passed, true);
    assert.equal(cert.client['delivered (share of frames)'], 1);
    t.diagnostic(`through Redis: latency p99 ${cert.client['latency p99 (ms)']} ms (k6), server-added p50 ${cert.server['server-added latency p50 (ms)'].toFixed(3)} ms, p99 ${cert.server['server-added latency p99 (ms)'].toFixed(3)} ms`);
  });
});
