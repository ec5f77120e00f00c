/**
 * Issue 4, acceptance 3: the repository's own image in a deployment's shape, on a Docker network
 * made by the test: nginx with TLS 1.3 (a CA and certificate made here) in front of two gateway
 * containers, two relay containers, Redis and keys-admin. Two Node peers call through wss:// and
 * hear each other bit-exactly; then a relay is killed, a gateway is terminated, Redis is stopped for
 * 15 s, and a key is revoked, each with its promise checked.
 *
 * Issue 10 item 1: the front door works for browsers. Two headless Chromiums and a Node peer make a
 * 3-peer call through nginx (the page made by #generate_leaf); everyone hears the other two. The
 * gateways trust only nginx's address (TRUSTED_PROXIES), so their logs and the failed-key limit
 * carry the address nginx saw for the browser; a direct client's X-Forwarded-For and forged Host
 * are not believed.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { GenericContainer, Network, StartedNetwork, StartedTestContainer, Wait } from 'testcontainers';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
import { NodePeer, PeerSummary, decodeWav, wavSource } from '@studioline/client';
import { STUDIO_SAMPLE_RATE, deriveLineId, encodeJoin, generateLeaf, parseCallLink, randomSenderId, samplesPerFrame } from '@studioline/protocol';
import { generateApiKey, pickRelay } from '@studioline/server-kit';
import { longestSilence, noise } from './helpers/audio.js';
import { launchBrowser, recordPage, requireChromium, toneWav } from './helpers/browser.js';
import { NGINX_IMAGE, REDIS_IMAGE, STUDIOLINE_IMAGE, requireImages } from './helpers/env.js';
import { newLink, rawJoin, tonePeer, waitFor } from './helpers/peers.js';
import { REPO } from './helpers/processes.js';
import { tonesHeard } from './helpers/tones.js';
import { makeTls } from './helpers/tls.js';

process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
const skip = requireImages([STUDIOLINE_IMAGE, NGINX_IMAGE, REDIS_IMAGE]);
const skipBrowser = skip ?? requireChromium();

const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim();


describe('containers: nginx TLS 1.3, 2 gateways, 2 relays, Redis, keys-admin', { skip, timeout: 300_000 }, () => {
  let network: StartedNetwork;
  let redis: StartedTestContainer;
  const relays: StartedTestContainer[] = [];
  const gateways: StartedTestContainer[] = [];
  let admin: StartedTestContainer;
  let nginx: StartedTestContainer;
  let tls: { dir: string; ca: string };
  let base: string;
  const staticKey = generateApiKey();
  const adminToken = 'container-topology-admin-token';

  const started: StartedTestContainer[] = [];
  /** nginx's address on the test network: the one proxy the gateways trust. */
  let nginxAddress: string;

  const studioline = (role: string, alias: string) =>
    new GenericContainer(STUDIOLINE_IMAGE)
      .withNetwork(network)
      .withNetworkAliases(alias)
      .withCommand(['serve', '--role', role])
      .withTmpFs({ '/tmp': 'rw' })
      // Three peers per line: the browser test makes a group call of two pages and a Node peer.
      .withEnvironment({ REDIS_URL: 'redis://redis:6379', APIKEY: staticKey, ADMIN_TOKEN: adminToken, TRUSTED_PROXIES: `${nginxAddress}/32`, LINE_CAPACITY: '3', DRAIN_DELAY_MS: '300' });

  before(async () => {
    tls = makeTls();
    network = await new Network().start();
    redis = await new GenericContainer(REDIS_IMAGE).withNetwork(network).withNetworkAliases('redis').start();
    // nginx starts first, without Studioline's site (its upstreams do not resolve yet), so that the
    // gateways can be told its address; the site is put in place and loaded once they are up.
    nginx = await new GenericContainer(NGINX_IMAGE)
      .withNetwork(network)
      .withExposedPorts(443)
      .withCopyFilesToContainer([
        { source: join(REPO, 'deploy/nginx/studioline.conf'), target: '/etc/nginx/studioline.conf.staged' },
        { source: join(tls.dir, 'tls.crt'), target: '/etc/nginx/tls/tls.crt' },
        { source: join(tls.dir, 'tls.key'), target: '/etc/nginx/tls/tls.key' },
      ])
      .withWaitStrategy(Wait.forSuccessfulCommand('test -s /run/nginx.pid'))
      .start();
    nginxAddress = nginx.getIpAddress(network.getName());
    for (const i of [1, 2]) relays.push(await studioline('relay', `relay-${i}`).withWaitStrategy(Wait.forLogMessage(/relay started/)).start());
    for (const i of [1, 2]) {
      gateways.push(await studioline('gateway', `gateway-${i}`).withExposedPorts(7777).withWaitStrategy(Wait.forLogMessage(/gateway listening/)).start());
    }
    started.push(...relays, ...gateways);
    admin = await studioline('keys-admin', 'keys-admin').withExposedPorts(7778).withWaitStrategy(Wait.forLogMessage(/keys admin listening/)).start();
    const loaded = await nginx.exec(['sh', '-c', 'mv /etc/nginx/studioline.conf.staged /etc/nginx/conf.d/studioline.conf && nginx -t && nginx -s reload']);
    assert.equal(loaded.exitCode, 0, loaded.output);
    base = `https://127.0.0.1:${nginx.getMappedPort(443)}`;
    for (let i = 0; ; i++) {
      const up = await new Promise<boolean>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port: nginx.getMappedPort(443), ca: tls.ca, servername: 'localhost' }, () => resolve(!!socket.end())).on('error', () => resolve(false));
      });
      if (up) break;
      assert.ok(i < 50, 'nginx serves TLS within 5 s of the reload');
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  after(async () => {
    // Every container the suite started, also those a test killed or stopped (stop removes them).
    for (const c of [nginx, admin, ...started, redis]) await c?.stop({ timeout: 1000 }).catch(() => undefined);
    await network?.stop().catch(() => undefined);
    if (tls) rmSync(tls.dir, { recursive: true, force: true });
  });

  const gatewayUrl = (g: StartedTestContainer) => `http://127.0.0.1:${g.getMappedPort(7777)}`;
  const peersOn = async (g: StartedTestContainer) => {
    const text = await (await fetch(`${gatewayUrl(g)}/metrics`)).text();
    return Number(/^studioline_gateway_peers (\d+)/m.exec(text)?.[1] ?? 0);
  };

  it('speaks TLS 1.3 only', async () => {
    const protocol = await new Promise<string | null>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: nginx.getMappedPort(443), ca: tls.ca, servername: 'localhost' }, () => {
        resolve(socket.getProtocol());
        socket.end();
      }).on('error', reject);
    });
    assert.equal(protocol, 'TLSv1.3');
    await assert.rejects(
      new Promise((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: nginx.getMappedPort(443), ca: tls.ca, servername: 'localhost', maxVersion: 'TLSv1.2' }, () => resolve(socket.end())).on('error', reject);
      }),
    );
  });

  it('two peers on different gateways hear each other bit-exactly through wss://', async () => {
    const link = newLink(base, staticKey);
    const frames = 300;
    const pcm = [noise(7, frames * samplesPerFrame(STUDIO_SAMPLE_RATE)), noise(8, frames * samplesPerFrame(STUDIO_SAMPLE_RATE))];
    const run = (i: number) => new NodePeer({ link, source: wavSource({ sampleRate: STUDIO_SAMPLE_RATE, samples: pcm[i] }), seconds: 3, record: true, ca: tls.ca }).run();
    const a = run(0);
    await new Promise((r) => setTimeout(r, 200));
    const b = run(1);
    await waitFor(async () => true, 1, '');
    const onEach = await Promise.all([waitFor(() => true, 1, ''), new Promise((r) => setTimeout(r, 1000))]).then(() => Promise.all(gateways.map(peersOn)));
    assert.deepEqual(onEach, [1, 1], 'nginx put the two peers on different gateways');
    const [sa, sb] = await Promise.all([a, b]);
    assert.deepEqual(sa.recording!.samples, pcm[1]);
    assert.deepEqual(sb.recording!.samples, pcm[0]);
    assert.deepEqual([sa.decryptFailed, sb.decryptFailed, sa.lost, sb.lost], [0, 0, 0, 0]);
  });

  /** A container's log (stdout and stderr). */
  const logsOf = (c: StartedTestContainer) => {
    const out = spawnSync('docker', ['logs', c.getId()], { encoding: 'utf8' });
    return (out.stdout + out.stderr).split('\n').filter(Boolean);
  };
  /** The client address of every websocket each gateway accepted, from its 'connection received' lines. */
  const gatewayAddresses = () =>
    gateways.flatMap((g) =>
      logsOf(g)
        .filter((l) => l.includes('"connection received"'))
        .map((l) => JSON.parse(l).address as string),
    );
  /** The client address of every websocket nginx proxied (logged when it closes). */
  const nginxAddresses = () => logsOf(nginx).flatMap((l) => /^(\S+) \[[^\]]+\] "GET \/ws" 101 /.exec(l)?.[1] ?? []);
  const authFailures = async (address: string) => (await redis.exec(['redis-cli', 'GET', `studioline:authfail:${address}`])).output.trim();
  /** Waits (up to 5 s) for a failed key to be counted against `address` in Redis. */
  const counted = async (address: string) => {
    for (let i = 0; i < 25 && !(Number(await authFailures(address)) >= 1); i++) await new Promise((r) => setTimeout(r, 200));
    return Number(await authFailures(address)) >= 1;
  };

  it('two Chromium pages and a Node peer call through nginx: each hears the other two; the gateways see the browsers’ own address', { skip: skipBrowser, timeout: 180_000 }, async (t) => {
    const tone = { a: 440, b: 1000, node: 700 };
    const seenBefore = { gateways: gatewayAddresses().length, nginx: nginxAddresses().length };
    const browsers: Browser[] = await Promise.all([launchBrowser(toneWav(tone.a)), launchBrowser(toneWav(tone.b))]);
    const pages: { page: Page; errors: string[] }[] = [];
    // The test CA is not in Chromium's store; TLS is still TLS 1.3 to nginx (checked above).
    const open = async (browser: Browser, url: string) => {
      const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, viewport: { width: 480, height: 900 } });
      const page = await context.newPage();
      const opened = { page, errors: [] as string[] };
      page.on('pageerror', (e) => opened.errors.push(e.message));
      await page.goto(url);
      pages.push(opened);
      return opened;
    };
    const join = async ({ page }: { page: Page }) => {
      await page.getByRole('button', { name: 'Join call' }).click();
      await page.locator('#call').waitFor({ state: 'visible' });
    };
    /** What a page heard: the mix of everyone's tracks (its own microphone is a track of its own). */
    const record = async ({ page }: { page: Page }, ms: number) => {
      const files = await recordPage(page, ms);
      const mix = files.get('Mix of everyone');
      assert.ok(mix, `the page offers a mix: ${[...files.keys()].join(', ')}`);
      return decodeWav(mix);
    };
    try {
      const a = await open(browsers[0], `${base}/?apikey=${staticKey}#generate_leaf`);
      const link = await a.page.locator('#link').inputValue();
      assert.ok(link.startsWith(`${base}/#apikey=${staticKey}&leaf_`), 'the page made a link to the public address, key in the fragment');
      const b = await open(browsers[1], link);
      await join(a);
      await join(b);
      for (const p of [a, b]) await p.page.locator('#state[data-state="in-call"]').waitFor({ timeout: 20_000 });
      const node = tonePeer(parseCallLink(link), tone.node, 10, { ca: tls.ca });
      const nodeRun = node.run();
      // Each page lists the two others.
      try {
        for (const p of [a, b]) await p.page.locator('#peers li[data-sender]').nth(1).waitFor({ timeout: 30_000 });
      } catch (err) {
        const early = await Promise.race([nodeRun.then((s) => JSON.stringify(s, (k, v) => (k === 'recording' ? undefined : typeof v === 'bigint' ? String(v) : v)), (e) => `failed: ${e}`), new Promise((r) => setTimeout(() => r('still running'), 100))]);
        t.diagnostic(`the Node peer: ${early}`);
        for (const g of gateways) t.diagnostic(logsOf(g).slice(-15).join('\n'));
        throw err;
      }
      await a.page.waitForTimeout(1000);
      const [heardA, heardB] = await Promise.all([record(a, 3000), record(b, 3000)]);
      const summary = await nodeRun;
      const check = (who: string, pcm: { samples: Int16Array; sampleRate: number }, expected: number[]) => {
        const found = tonesHeard(pcm.samples, pcm.sampleRate, expected);
        t.diagnostic(`${who} heard ${found.map((f) => `${f.frequency.toFixed(2)} Hz (${f.expected}, amplitude ${f.amplitude.toFixed(0)})`).join(' and ')} at ${pcm.sampleRate} Hz`);
        for (const f of found) {
          assert.ok(f.amplitude > 300, `${who} hears the ${f.expected} Hz tone (amplitude ${f.amplitude.toFixed(0)})`);
          assert.ok(Math.abs(f.frequency - f.expected) / f.expected < 0.005, `${who} heard ${f.frequency.toFixed(2)} Hz for ${f.expected} Hz`);
        }
      };
      check('page A', heardA, [tone.b, tone.node]);
      check('page B', heardB, [tone.a, tone.node]);
      check('the Node peer', summary.recording!, [tone.a, tone.b]);
      assert.equal(summary.decryptFailed, 0);
      for (const p of [a, b]) {
        assert.equal(await p.page.locator('#stat-decrypt').textContent(), '0');
        assert.deepEqual(p.errors, []);
      }

      // A page with a wrong key: refused in words, and counted against the browser's own address.
      const wrong = await open(browsers[0], `${base}/#apikey=${'q'.repeat(72)}&leaf_${generateLeaf()}`);
      await wrong.page.getByRole('button', { name: 'Join call' }).click();
      await wrong.page.locator('#problem').getByText('The API key is wrong, expired or unknown.').waitFor({ timeout: 15_000 });
    } finally {
      for (const p of pages) await p.page.context().close().catch(() => undefined);
      await Promise.all(browsers.map((br) => br.close()));
    }
    // nginx logs a websocket when it closes: wait for the pages' and the Node peer's.
    const proxied = await waitFor(() => {
      const all = nginxAddresses().slice(seenBefore.nginx);
      return all.length >= 4 && all;
    }, 10_000, 'nginx logged the websockets');
    const accepted = gatewayAddresses().slice(seenBefore.gateways);
    t.diagnostic(`nginx (${nginxAddress}) saw the clients as ${[...new Set(proxied)].join(', ')}; the gateways logged ${[...new Set(accepted)].join(', ')}`);
    assert.equal(accepted.length, proxied.length, 'one gateway log line per websocket nginx proxied');
    assert.deepEqual([...new Set(accepted)].sort(), [...new Set(proxied)].sort(), 'the gateways see the address nginx saw');
    assert.ok(!accepted.includes(nginxAddress), 'not nginx’s own address');
    assert.ok(await counted(proxied[0]), 'the failed key counts against the browser’s address');
    assert.equal(await authFailures(nginxAddress), '', 'and not against nginx’s');
  });

  it('a direct client to a gateway is not believed: its X-Forwarded-For is neither logged nor counted, and a forged Host does not pass the Origin check', async () => {
    const g = gateways[0];
    const forged = '198.51.100.23';
    const seen = gatewayAddresses().length;
    const line = await deriveLineId(newLink(base, staticKey).leafBytes!);
    const ws = new WebSocket(`ws://127.0.0.1:${g.getMappedPort(7777)}/ws`, { headers: { 'X-Forwarded-For': forged } });
    ws.on('open', () => ws.send(encodeJoin('w'.repeat(72), line, randomSenderId(), STUDIO_SAMPLE_RATE)));
    const code = await new Promise((resolve) => ws.on('close', resolve));
    assert.equal(code, 4401);
    const [address] = gatewayAddresses().slice(seen);
    assert.ok(address && address !== forged, `logged as ${address}`);
    assert.notEqual(address, nginxAddress);
    assert.equal(await authFailures(forged), '', 'no failure counted for the forged address');
    assert.ok(await counted(address), 'the failure counts against the socket’s address');
    const status = await new Promise<number>((resolve) => {
      const forging = new WebSocket(`ws://127.0.0.1:${g.getMappedPort(7777)}/ws`, { headers: { Host: 'calls.evil.example', Origin: 'https://calls.evil.example', 'X-Forwarded-Proto': 'https' } });
      forging.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      forging.on('open', () => resolve(101));
      forging.on('error', () => undefined);
    });
    assert.equal(status, 403);
  });

  it('the relay container owning the line is killed: audio is back within 5 s', async (t) => {
    const link = newLink(base, staticKey);
    const arrivals: number[] = [];
    const call = Promise.all([
      tonePeer(link, 440, 9, { ca: tls.ca, onAudio: (_s, _c, at) => arrivals.push(at) }).run(),
      tonePeer(link, 1000, 9, { ca: tls.ca }).run(),
    ]);
    await waitFor(() => arrivals.length > 150, 10_000, 'audio flowing');
    const ids = relays.map((r) => /"relay":"(relay-[0-9a-f]+)"/.exec(docker('logs', r.getId()))![1]);
    const owner = relays[ids.indexOf(pickRelay(await deriveLineId(link.leafBytes!), ids)!)];
    const killedAt = performance.now();
    docker('kill', owner.getId());
    const [a, b] = await call;
    const gap = longestSilence(arrivals, killedAt);
    t.diagnostic(`longest silence after killing the owning relay: ${gap.toFixed(0)} ms`);
    assert.ok(gap < 5000, `silence of ${gap.toFixed(0)} ms`);
    assert.deepEqual([a.decryptFailed, b.decryptFailed, a.reconnects, b.reconnects], [0, 0, 0, 0]);
    relays.splice(relays.indexOf(owner), 1);
  });

  it('SIGTERM to a peer’s gateway: the peer is back through the other gateway within 3 s, and the gateway exits by itself before its deadline', async (t) => {
    const link = newLink(base, staticKey);
    const arrivals: number[] = [];
    const peers: Promise<PeerSummary>[] = [
      tonePeer(link, 440, 8, { ca: tls.ca, onAudio: (_s, _c, at) => arrivals.push(at) }).run(),
      tonePeer(link, 1000, 8, { ca: tls.ca }).run(),
    ];
    await waitFor(() => arrivals.length > 100, 10_000, 'audio flowing');
    const counts = await Promise.all(gateways.map(peersOn));
    const victim = gateways[counts.findIndex((c) => c > 0)];
    const termAt = performance.now();
    docker('kill', '--signal', 'TERM', victim.getId());
    const exitCode = Number(docker('wait', victim.getId()));
    const exitedAfter = performance.now() - termAt;
    const [a, b] = await Promise.all(peers);
    const gap = longestSilence(arrivals, termAt);
    t.diagnostic(`gateway exited ${exitedAfter.toFixed(0)} ms after SIGTERM with code ${exitCode}; longest silence ${gap.toFixed(0)} ms; reconnects ${a.reconnects + b.reconnects}`);
    if (gap >= 3000) t.diagnostic(docker('logs', '--tail', '12', victim.getId()));
    assert.equal(exitCode, 0);
    assert.ok(exitedAfter < 10_000, 'exited before the 10 s drain deadline');
    assert.ok(a.reconnects + b.reconnects >= 1, 'the peers on it reconnected');
    assert.ok(gap < 3000, `silence of ${gap.toFixed(0)} ms`);
    assert.deepEqual([a.decryptFailed, b.decryptFailed], [0, 0]);
    gateways.splice(gateways.indexOf(victim), 1);
  });

  it('Redis stopped for 15 s: everyone alive and not ready, and the call resumes within 5 s of its return', async (t) => {
    const link = newLink(base, staticKey);
    const arrivals: number[] = [];
    const call = Promise.all([
      tonePeer(link, 440, 26, { ca: tls.ca, onAudio: (_s, _c, at) => arrivals.push(at) }).run(),
      tonePeer(link, 1000, 26, { ca: tls.ca }).run(),
    ]);
    await waitFor(() => arrivals.length > 100, 10_000, 'audio flowing');
    docker('stop', '--time', '1', redis.getId());
    await new Promise((r) => setTimeout(r, 3000));
    const g = gateways[0];
    assert.equal((await fetch(`${gatewayUrl(g)}/healthz`)).status, 200, 'gateway alive');
    assert.equal((await fetch(`${gatewayUrl(g)}/readyz`)).status, 503, 'gateway not ready');
    const adminUrl = `http://127.0.0.1:${admin.getMappedPort(7778)}`;
    assert.equal((await fetch(`${adminUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${adminUrl}/readyz`)).status, 503);
    for (const r of relays) assert.equal(docker('inspect', '-f', '{{.State.Running}}', r.getId()), 'true', 'relay alive');
    await new Promise((r) => setTimeout(r, 12_000));
    const backAt = performance.now();
    docker('start', redis.getId());
    try {
      await waitFor(() => arrivals.some((x) => x > backAt), 5000, 'audio back within 5 s of Redis');
    } catch (err) {
      for (const c of [...gateways, ...relays]) t.diagnostic(docker('logs', '--tail', '15', c.getId()));
      throw err;
    }
    const resumed = arrivals.find((x) => x > backAt)! - backAt;
    await waitFor(async () => true, 1, '');
    const ready = await (async () => {
      for (let i = 0; i < 50; i++) {
        if ((await fetch(`${gatewayUrl(g)}/readyz`)).status === 200) return true;
        await new Promise((r) => setTimeout(r, 100));
      }
      return false;
    })();
    assert.ok(ready, 'gateway ready again without a restart');
    const [a, b] = await call;
    t.diagnostic(`audio resumed ${resumed.toFixed(0)} ms after Redis came back; reconnects ${a.reconnects + b.reconnects}, decrypt failures ${a.decryptFailed + b.decryptFailed}`);
    assert.deepEqual([a.reconnects, b.reconnects, a.decryptFailed, b.decryptFailed], [0, 0, 0, 0]);
  });

  it('a key revoked through keys-admin is refused to both peers within 1 s', async (t) => {
    const adminUrl = `http://127.0.0.1:${admin.getMappedPort(7778)}`;
    const headers = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
    const created = (await (await fetch(`${adminUrl}/v1/keys`, { method: 'POST', headers, body: JSON.stringify({ name: 'to revoke' }) })).json()) as { key: { id: string }; secret: string };
    const link = newLink(base, created.secret);
    const a = await rawJoin(link, { ca: tls.ca });
    const b = await rawJoin(link, { ca: tls.ca });
    await waitFor(() => a.messages.some((m) => m.type === 'joined') && b.messages.some((m) => m.type === 'joined'), 5000, 'both joined');
    const start = performance.now();
    await fetch(`${adminUrl}/v1/keys/${created.key.id}/revoke`, { method: 'POST', headers });
    const closes = await Promise.all([a.closed, b.closed].map((p) => p.then((c) => ({ ...c, ms: performance.now() - start }))));
    t.diagnostic(`closed ${closes.map((c) => c.ms.toFixed(0)).join(' and ')} ms after the revocation`);
    for (const c of closes) {
      assert.equal(c.code, 4403);
      assert.ok(c.ms < 1000);
    }
  });
});
