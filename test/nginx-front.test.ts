/**
 * Issue 11 item 7: what the front door does to calls. The repository's image behind the shipped
 * nginx config (deploy/nginx/studioline.conf) with TLS 1.3, two gateways, two relays, Redis, on a
 * Docker network made by the test.
 *
 * - The heartbeat across a proxy idle timeout: the test config lowers nginx's websocket idle limits
 *   (proxy_read_timeout, proxy_send_timeout: 3600 s shipped) to 3 s, above the gateways' ping
 *   interval (PING_INTERVAL_MS=1000 here). Two joined but silent peers stay connected past several
 *   timeouts; the same idle peer through a location whose gateway does not ping in that time is cut
 *   by nginx at its timeout (the control: the timeout is live, the heartbeat is what keeps the socket).
 * - `nginx -s reload` during calls: the calls keep going on the old workers, audio uninterrupted;
 *   with worker_shutdown_timeout set, old workers close the websockets and the peers reconnect by
 *   themselves, through the new workers, audio back within the bound.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GenericContainer, Network, StartedNetwork, StartedTestContainer, Wait } from 'testcontainers';
import { PeerSummary } from '@studioline/client';
import { generateApiKey } from '@studioline/server-kit';
import { longestSilence } from './helpers/audio.js';
import { NGINX_IMAGE, REDIS_IMAGE, STUDIOLINE_IMAGE, requireImages } from './helpers/env.js';
import { newLink, rawJoin, tonePeer, waitFor } from './helpers/peers.js';
import { REPO } from './helpers/processes.js';
import { makeTls } from './helpers/tls.js';

process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
const skip = requireImages([STUDIOLINE_IMAGE, NGINX_IMAGE, REDIS_IMAGE]);

/** nginx's websocket idle limit in this test, and the gateways' ping interval under it. */
const IDLE_TIMEOUT_S = 3;
const PING_INTERVAL_MS = 1000;

/** When the longest silence after `since` began (performance.now() time). */
function gapStart(arrivals: number[], since: number): number {
  const after = arrivals.filter((t) => t > since);
  let best = since;
  let gap = (after[0] ?? since) - since;
  for (let i = 1; i < after.length; i++) if (after[i] - after[i - 1] > gap) [gap, best] = [after[i] - after[i - 1], after[i - 1]];
  return best;
}

/** The shipped config with the idle limits lowered, and a /ws-quiet location to a gateway that does not ping within them. */
function testConfig(): string {
  const shipped = readFileSync(join(REPO, 'deploy/nginx/studioline.conf'), 'utf8');
  let config = shipped.replace(/proxy_read_timeout \d+s;/, `proxy_read_timeout ${IDLE_TIMEOUT_S}s;`).replace(/proxy_send_timeout \d+s;/, `proxy_send_timeout ${IDLE_TIMEOUT_S}s;`);
  assert.notEqual(config, shipped, 'the shipped config sets proxy_read_timeout and proxy_send_timeout for /ws');
  const ws = /location = \/ws \{[^}]*\}/.exec(config)![0];
  config = config.replace(ws, `${ws}\n\n    location = /ws-quiet {${ws.slice(ws.indexOf('{') + 1).replace('proxy_pass http://studioline_gateways;', 'proxy_pass http://gateway-quiet:7777/ws;')}`);
  return config;
}

describe('nginx in front: heartbeat across the idle timeout, reload during calls', { skip, timeout: 240_000 }, () => {
  let network: StartedNetwork;
  const started: StartedTestContainer[] = [];
  let nginx: StartedTestContainer;
  let tls: { dir: string; ca: string };
  let base: string;
  const apiKey = generateApiKey();

  const studioline = (role: string, alias: string, env: Record<string, string> = {}) =>
    new GenericContainer(STUDIOLINE_IMAGE)
      .withNetwork(network)
      .withNetworkAliases(alias)
      .withCommand(['serve', '--role', role])
      .withTmpFs({ '/tmp': 'rw' })
      .withEnvironment({ REDIS_URL: 'redis://redis:6379', APIKEY: apiKey, PING_INTERVAL_MS: String(PING_INTERVAL_MS), ...env });

  before(async () => {
    tls = makeTls();
    network = await new Network().start();
    started.push(await new GenericContainer(REDIS_IMAGE).withNetwork(network).withNetworkAliases('redis').start());
    for (const i of [1, 2]) started.push(await studioline('relay', `relay-${i}`).withWaitStrategy(Wait.forLogMessage(/relay started/)).start());
    const gateways = [studioline('gateway', 'gateway-1'), studioline('gateway', 'gateway-2'), studioline('gateway', 'gateway-quiet', { PING_INTERVAL_MS: '600000' })];
    started.push(...(await Promise.all(gateways.map((g) => g.withWaitStrategy(Wait.forLogMessage(/gateway listening/)).start()))));
    const config = join(tls.dir, 'studioline.conf');
    writeFileSync(config, testConfig());
    nginx = await new GenericContainer(NGINX_IMAGE)
      .withNetwork(network)
      .withExposedPorts(443)
      .withCopyFilesToContainer([
        { source: config, target: '/etc/nginx/conf.d/studioline.conf' },
        { source: join(tls.dir, 'tls.crt'), target: '/etc/nginx/tls/tls.crt' },
        { source: join(tls.dir, 'tls.key'), target: '/etc/nginx/tls/tls.key' },
      ])
      .withWaitStrategy(Wait.forSuccessfulCommand('test -s /run/nginx.pid'))
      .start();
    base = `https://127.0.0.1:${nginx.getMappedPort(443)}`;
  });

  after(async () => {
    for (const c of [nginx, ...started]) await c?.stop({ timeout: 1000 }).catch(() => undefined);
    await network?.stop().catch(() => undefined);
    if (tls) rmSync(tls.dir, { recursive: true, force: true });
  });

  it(`an idle call outlives several ${IDLE_TIMEOUT_S} s proxy timeouts on the gateways' ${PING_INTERVAL_MS} ms pings; without them nginx cuts it`, async (t) => {
    const link = newLink(base, apiKey);
    const a = await rawJoin(link, { ca: tls.ca });
    const b = await rawJoin(link, { ca: tls.ca });
    await waitFor(() => a.messages.some((m) => m.type === 'peer_joined'), 5000, 'both joined');
    // The control, on a line of its own: the same kind of idle peer, through a gateway that does not ping.
    const quietLink = newLink(base, apiKey);
    const quiet = await rawJoin({ ...quietLink, websocketUrl: quietLink.websocketUrl.replace(/\/ws$/, '/ws-quiet') }, { ca: tls.ca });
    await waitFor(() => quiet.messages.some((m) => m.type === 'joined'), 5000, 'the control joined');
    const joinedAt = performance.now();
    const quietClosed = await quiet.closed;
    const quietMs = performance.now() - joinedAt;
    const idleMs = 4 * IDLE_TIMEOUT_S * 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, idleMs - (performance.now() - joinedAt))));
    t.diagnostic(`the control was cut by nginx after ${quietMs.toFixed(0)} ms idle (code ${quietClosed.code}); the call idled ${((performance.now() - joinedAt) / 1000).toFixed(1)} s and is ${a.ws.readyState === a.ws.OPEN && b.ws.readyState === b.ws.OPEN ? 'open' : 'closed'}`);
    assert.equal(quietClosed.code, 1006, 'nginx dropped the control’s connection');
    assert.ok(quietMs >= IDLE_TIMEOUT_S * 1000 - 500 && quietMs < IDLE_TIMEOUT_S * 1000 + 3000, `at its idle timeout (${quietMs.toFixed(0)} ms)`);
    for (const c of [a, b]) {
      assert.equal(c.ws.readyState, c.ws.OPEN, 'the pinged call is still connected');
      assert.ok(!c.messages.some((m) => m.type === 'error'));
    }
    a.ws.close();
    b.ws.close();
  });

  /** Two calls (four peers) through nginx; `during` runs once audio flows; returns each peer's summary and longest silence after it. */
  async function callsAcross(during: () => Promise<void>): Promise<{ summaries: PeerSummary[]; gaps: number[]; gapAt: number[] }> {
    const arrivals: number[][] = [[], [], [], []];
    const links = [newLink(base, apiKey), newLink(base, apiKey)];
    const runs = [0, 1, 2, 3].map((i) => tonePeer(links[i >> 1], 440 + 200 * i, 10, { ca: tls.ca, onAudio: (_s, _c, at) => arrivals[i].push(at) }).run());
    await waitFor(() => arrivals.every((a) => a.length > 150), 15_000, 'audio flowing on both calls');
    const at = performance.now();
    await during();
    const summaries = await Promise.all(runs);
    return { summaries, gaps: arrivals.map((a) => longestSilence(a, at)), gapAt: arrivals.map((a) => gapStart(a, at) - at) };
  }

  /** The pids of nginx's worker processes (procps may not be in the image). */
  const workers = async () => (await nginx.exec(['sh', '-c', 'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null | grep -q "^nginx: worker" && echo ${p#/proc/}; done | sort'])).output.trim();

  const exec = async (...cmd: string[]) => {
    const r = await nginx.exec(cmd);
    assert.equal(r.exitCode, 0, r.output);
  };

  it('nginx -s reload during calls: the calls go on, audio uninterrupted, and new calls get the new workers', async (t) => {
    const workersBefore = await workers();
    const { summaries, gaps, gapAt } = await callsAcross(async () => {
      await exec('nginx', '-s', 'reload');
      await new Promise((r) => setTimeout(r, 2000));
      await exec('nginx', '-s', 'reload');
    });
    const workersAfter = await workers();
    t.diagnostic(`two reloads: longest silence per peer ${gaps.map((g) => g.toFixed(0)).join(', ')} ms; reconnects ${summaries.map((s) => s.reconnects).join(', ')}; the gaps began ${gapAt.map((g) => g.toFixed(0)).join(', ')} ms after the first reload began`);
    assert.notEqual(workersAfter, workersBefore, 'the reload started new workers');
    for (const [i, s] of summaries.entries()) {
      assert.equal(s.reconnects, 0, `peer ${i} stayed on its connection`);
      assert.ok(gaps[i] < 3000, `peer ${i}: audio kept arriving (longest silence ${gaps[i].toFixed(0)} ms)`);
      // Nothing lost on the way: a peer misses only what its partner skipped itself, behind real time (lines of two: 0-1, 2-3, ...).
      const partner = summaries[i ^ 1];
      assert.ok(s.lost <= (partner?.skippedLate ?? 0), `peer ${i}: lost ${s.lost}, skipped by its partner ${partner?.skippedLate}`);
      assert.equal(s.decryptFailed, 0, `peer ${i}: every frame decrypted`);
    }
    // A call started after the reloads goes through the new workers.
    const link = newLink(base, apiKey);
    const fresh = await Promise.all([tonePeer(link, 440, 2, { ca: tls.ca }).run(), tonePeer(link, 1000, 2, { ca: tls.ca }).run()]);
    assert.deepEqual(fresh.map((s) => s.received), fresh.map((s) => s.sent).reverse(), 'a new call after the reloads hears everything');
  });

  it('a reload with worker_shutdown_timeout: the old workers close the calls, and the peers reconnect by themselves within 3 s', async (t) => {
    // The setting holds for the workers the reload starts: the calls below land on them.
    await exec('sh', '-c', "grep -q worker_shutdown_timeout /etc/nginx/nginx.conf || sed -i '1i worker_shutdown_timeout 1s;' /etc/nginx/nginx.conf && nginx -t && nginx -s reload");
    await new Promise((r) => setTimeout(r, 1000));
    const { summaries, gaps } = await callsAcross(() => exec('nginx', '-s', 'reload'));
    t.diagnostic(`reload with worker_shutdown_timeout 1s: longest silence per peer ${gaps.map((g) => g.toFixed(0)).join(', ')} ms; reconnects ${summaries.map((s) => s.reconnects).join(', ')}`);
    for (const [i, s] of summaries.entries()) {
      assert.ok(s.reconnects >= 1, `peer ${i} was cut by the old worker and reconnected`);
      assert.ok(gaps[i] < 3000, `peer ${i}: audio back within 3 s (longest silence ${gaps[i].toFixed(0)} ms)`);
      assert.equal(s.decryptFailed, 0);
    }
  });
});
