/**
 * Issue 15 item 3: the chart installed for real on a single-node Kubernetes cluster
 * (scripts/cluster/up.sh: kube-apiserver, controller-manager, scheduler, kubelet, kube-proxy,
 * containerd, CoreDNS), with the bundled Redis and the product images imported into containerd,
 * in a namespace that enforces Pod Security "restricted"; `helm test --logs` makes a real call.
 *
 * Uses the cluster when one is up, else brings one up (the first build of its binaries takes
 * about 15 minutes) and tears it down afterwards. Needs root, Go, Docker with the product images
 * (scripts/ci/build-images.sh) and helm (scripts/ci/ensure-tools.sh). In `npm test` (CI builds the
 * binaries first: .ci/run); alone: `npm run test:cluster`.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IN_CI, dockerAvailable } from '../helpers/env.js';
import { REPO } from '../helpers/processes.js';
import { tool } from '../helpers/tools.js';

const SCRIPTS = join(REPO, 'scripts/cluster');
const IMAGE = process.env.STUDIOLINE_IMAGE ?? 'studioline:dev';
const REDIS_IMAGE = process.env.STUDIOLINE_REDIS_IMAGE ?? 'studioline-local/redis:7';
const helm = tool('helm');

/** The cluster's settings, from the one place that has them. */
function clusterEnv(): NodeJS.ProcessEnv {
  const out = execFileSync('bash', ['-c', `. ${SCRIPTS}/env.sh; env -0`], { encoding: 'utf8', env: { ...process.env, STUDIOLINE_IMAGE: IMAGE, STUDIOLINE_REDIS_IMAGE: REDIS_IMAGE } });
  return Object.fromEntries(out.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

function missing(): string | undefined {
  const reasons = [
    process.getuid?.() !== 0 && 'the cluster needs root',
    !dockerAvailable() && 'Docker is not running (bash scripts/ci/ensure-docker.sh)',
    dockerAvailable() && spawnSync('docker', ['image', 'inspect', IMAGE], { stdio: 'ignore' }).status !== 0 && `no ${IMAGE} image (bash scripts/ci/build-images.sh)`,
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
  const times: Record<string, number> = {};
  let ownCluster = false;
  let installOutput = '';

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
    spawnSync('helm', ['uninstall', release, '-n', ns, '--wait', '--timeout', '60s'], { env, stdio: 'ignore' });
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
        '--set', `redis.bundled.image=${REDIS_IMAGE},redis.bundled.pullPolicy=Never`]));
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

  it('the keys command NOTES.txt prints makes a key', () => {
    const line = installOutput.split('\n').find((l) => l.includes('keys create'));
    assert.ok(line, `no keys command in NOTES:\n${installOutput}`);
    const out = run('bash', ['-c', line!.trim()]);
    assert.match(out, /^Created key_\S+ \(first studio\)\. The secret is shown only this once:\n\S{20,}/);
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
});
