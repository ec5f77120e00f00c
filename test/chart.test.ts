/**
 * Issue 4, acceptance 1 and 2: the Helm chart lints and renders with the default values and with
 * the CI value sets (external Redis, Sentinel, Cluster, production); every rendered object passes
 * the Kubernetes schema (kubernetes-models, generated from the API's OpenAPI); bad values fail with
 * the chart's own message; k8s/ equals the rendered chart; values.schema.json matches values.yaml.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import YAML from 'yaml';
import { REPO } from './helpers/processes.js';
import { tool } from './helpers/tools.js';

const helm = tool('helm');
const CHART = join(REPO, 'charts/studioline');
const valueSets = readdirSync(join(CHART, 'ci')).map((f) => join(CHART, 'ci', f));

function render(...args: string[]): Record<string, any>[] {
  const out = execFileSync(helm.path!, ['template', 'studioline', CHART, '-n', 'studioline', ...args], { encoding: 'utf8' });
  const docs = YAML.parseAllDocuments(out);
  // A repeated key (e.g. a label written twice) is an error here, and a silent last-one-wins in kubectl.
  for (const d of docs) assert.deepEqual(d.errors.map((e) => e.message), [], `rendered YAML (${args.join(' ') || 'defaults'})`);
  return docs.map((d) => d.toJSON()).filter(Boolean);
}

/** Millicores of a Kubernetes CPU quantity ("150m", "1", 1.5). */
function millicores(cpu: string | number | undefined): number {
  if (cpu === undefined) return 0;
  return String(cpu).endsWith('m') ? Number(String(cpu).slice(0, -1)) : Number(cpu) * 1000;
}

/** Every pod spec the objects make (Deployments, Jobs, Pods), with where it came from. */
function podSpecs(objects: Record<string, any>[]): [string, Record<string, any>][] {
  return objects.flatMap((o): [string, Record<string, any>][] => {
    if (o.kind === 'Pod') return [[`Pod ${o.metadata.name}`, o.spec]];
    if (o.spec?.template?.spec) return [[`${o.kind} ${o.metadata.name}`, o.spec.template.spec]];
    return [];
  });
}

/** The model class for an object, from kubernetes-models (and the Prometheus Operator's CRDs). */
async function modelFor(apiVersion: string, kind: string): Promise<(new (o: unknown) => { validate(): void }) | undefined> {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const module = group === 'monitoring.coreos.com' ? `@kubernetes-models/prometheus-operator/${apiVersion}` : `kubernetes-models/${group ? `${group}/${version}` : version}`;
  const models = await import(module);
  return models[kind];
}

describe('Helm chart', { skip: helm.skip }, () => {
  it('lints with the default values and every CI value set', () => {
    for (const values of [[], ...valueSets.map((f) => ['-f', f])]) {
      const result = spawnSync(helm.path!, ['lint', CHART, ...values], { encoding: 'utf8' });
      assert.equal(result.status, 0, result.stdout + result.stderr);
    }
  });

  it('renders objects that pass the Kubernetes schema, for every value set', async (t) => {
    const seen = new Set<string>();
    for (const values of [[], ...valueSets.map((f) => ['-f', f])]) {
      for (const obj of render(...values)) {
        const Model = await modelFor(obj.apiVersion, obj.kind);
        assert.ok(Model, `no schema known for ${obj.apiVersion} ${obj.kind}`);
        assert.doesNotThrow(() => new Model!(obj).validate(), `${obj.kind} ${obj.metadata?.name} (${values.join(' ') || 'defaults'})`);
        seen.add(obj.kind);
      }
    }
    t.diagnostic(`validated kinds: ${[...seen].sort().join(', ')}`);
  });

  it('production values render HPA, PDBs, ServiceMonitors, alerts, dashboard, NetworkPolicies and a TLS 1.3 Ingress', () => {
    const objects = render('-f', join(CHART, 'ci/production-values.yaml'));
    const kinds = objects.map((o) => o.kind);
    for (const kind of ['HorizontalPodAutoscaler', 'PodDisruptionBudget', 'ServiceMonitor', 'PrometheusRule', 'NetworkPolicy', 'Ingress']) assert.ok(kinds.includes(kind), kind);
    const ingress = objects.find((o) => o.kind === 'Ingress')!;
    assert.equal(ingress.metadata.annotations['nginx.ingress.kubernetes.io/ssl-protocols'], 'TLSv1.3');
    assert.equal(ingress.metadata.annotations['cert-manager.io/cluster-issuer'], 'letsencrypt');
    assert.equal(ingress.metadata.annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'], '3600');
    assert.deepEqual(ingress.spec.tls, [{ hosts: ['calls.example.com'], secretName: 'studioline-tls' }]);
    // The gateways believe X-Forwarded-For from the ingress controller's pods, and only with an Ingress.
    const trusted = (objects: Record<string, any>[]) => objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-config'))!.data.TRUSTED_PROXIES;
    assert.equal(trusted(objects), '10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7');
    assert.equal(trusted(render()), '', 'no Ingress: nobody is trusted');
    assert.equal(trusted(render('-f', join(CHART, 'ci/production-values.yaml'), '--set', 'ingress.trustedProxies={10.244.0.0/16}')), '10.244.0.0/16');
    const dashboard = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-dashboard'))!;
    assert.equal(JSON.parse(dashboard.data['studioline.json']).title, 'Studioline');
    assert.equal(objects.some((o) => o.kind === 'Secret'), false, 'existingSecret: the chart makes no Secret');
  });

  it('gateways drain within their grace period, roll on config change, and run unprivileged on a read-only root', () => {
    const objects = render();
    const gateway = objects.find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-gateway'))!;
    const pod = gateway.spec.template;
    const container = pod.spec.containers[0];
    const config = objects.find((o) => o.kind === 'ConfigMap')!;
    assert.ok(pod.spec.terminationGracePeriodSeconds * 1000 > Number(config.data.DRAIN_TIMEOUT_MS));
    assert.match(pod.metadata.annotations['checksum/config'], /^[0-9a-f]{64}$/);
    assert.notEqual(render('--set', 'config.budgetBps=8000000').find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-gateway'))!.spec.template.metadata.annotations['checksum/config'], pod.metadata.annotations['checksum/config']);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext.runAsNonRoot, true);
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');
    assert.deepEqual(container.args, ['serve', '--role', 'gateway']);
    const test = objects.find((o) => o.kind === 'Pod')!;
    assert.equal(test.metadata.annotations['helm.sh/hook'], 'test');
    assert.equal(test.spec.containers[0].args[0], 'certify', 'helm test makes a short certification');
  });

  it('NOTES.txt says how to run the keys CLI that the image holds', () => {
    // `helm install --dry-run` needs a cluster; `helm template` skips NOTES.txt: render a copy of the
    // chart in which it is an ordinary template.
    const copy = mkdtempSync(join(tmpdir(), 'sl-chart-notes-'));
    cpSync(CHART, copy, { recursive: true });
    renameSync(join(copy, 'templates/NOTES.txt'), join(copy, 'notes.src'));
    writeFileSync(join(copy, 'templates/notes.yaml'), 'notes: |\n{{ tpl (.Files.Get "notes.src") . | indent 2 }}\n');
    const notes = YAML.parse(execFileSync(helm.path!, ['template', 'studioline', copy, '-n', 'studioline', '--show-only', 'templates/notes.yaml'], { encoding: 'utf8' })).notes as string;
    rmSync(copy, { recursive: true, force: true });
    assert.match(notes, /kubectl -n studioline exec deploy\/studioline-keys-admin -- node \/app\/packages\/cli\/bin\/studioline\.js keys create/);
    assert.doesNotMatch(notes, /^\s*npx studioline keys create --name "first studio"$/m, 'not a bare npx command: no studioline package is published');
    assert.match(readFileSync(join(REPO, 'Dockerfile'), 'utf8'), /"\/app\/packages\/cli\/bin\/studioline\.js"/, 'the image has the CLI where NOTES.txt says');
  });

  it('certify.enabled runs the certification as an Indexed Job, one shard per pod, scraping every gateway', () => {
    assert.equal(render().some((o) => o.kind === 'Job'), false, 'off by default');
    const objects = render('--set', 'certify.enabled=true,certify.pods=10,certify.peers=2000');
    const job = objects.find((o) => o.kind === 'Job')!;
    assert.equal(job.spec.completionMode, 'Indexed');
    assert.equal(job.spec.completions, 10);
    assert.equal(job.spec.parallelism, 10);
    const args: string[] = job.spec.template.spec.containers[0].args;
    const arg = (flag: string) => args[args.indexOf(flag) + 1];
    assert.equal(args[0], 'certify');
    assert.equal(arg('--shards'), '10', 'each pod takes its shard from JOB_COMPLETION_INDEX');
    assert.equal(arg('--peers'), '2000');
    assert.equal(arg('--budget'), '7000000', 'certified against the release’s own budget');
    assert.match(arg('--metrics'), /^dns\+http:\/\/studioline-certify-gateways:9090\/metrics,dns\+http:\/\/studioline-relay:9090\/metrics$/);
    const headless = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'studioline-certify-gateways')!;
    assert.equal(headless.spec.clusterIP, 'None');
    assert.equal(headless.spec.selector['app.kubernetes.io/component'], 'gateway');
    assert.equal(job.metadata.name, 'studioline-certify-1', 'named by revision: an upgrade runs a new Job instead of failing to change one');
    const typo = spawnSync(helm.path!, ['template', 'x', CHART, '--set', 'certify.podz=3'], { encoding: 'utf8' });
    assert.notEqual(typo.status, 0, 'the schema refuses unknown certify values');
  });

  it('bad values fail with the chart’s own message', () => {
    const cases: [string[], RegExp][] = [
      [['--set', 'redis.mode=external'], /redis.mode=external needs redis.external.url or redis.external.existingSecret/],
      [['--set', 'config.budgetBps=1000000'], /config.budgetBps 1000000 is below 3300000/],
      [['--set', 'gateway.drainTimeoutSeconds=60'], /must exceed gateway.drainTimeoutSeconds \(60\)/],
      [['--set', 'ingress.enabled=true'], /ingress.tls.enabled needs ingress.tls.secretName/],
      [['--set', 'redis.mode=cluster', '--set', 'redis.cluster.nodes={a:6379}'], /needs a hash tag in redis.prefix/],
      [['--set', 'ingress.trustedProxies={10.0.0.0/8,ingress-nginx}'], /ingress.trustedProxies: "ingress-nginx" is not an IPv4 or IPv6 address or CIDR/],
      // Caught by values.schema.json, the chart's own schema, before the templates run.
      [['--set', 'redis.mode=memcached'], /at '\/redis\/mode': value must be one of 'bundled', 'external', 'sentinel', 'cluster'/],
    ];
    for (const [args, message] of cases) {
      const result = spawnSync(helm.path!, ['template', 'x', CHART, ...args], { encoding: 'utf8' });
      assert.notEqual(result.status, 0, `${args.join(' ')} rendered`);
      assert.match(result.stderr, message);
    }
  });

  it('k8s/studioline.yaml is the chart rendered with k8s/values.yaml, without the helm test hooks', () => {
    const rendered = execFileSync(helm.path!, ['template', 'studioline', CHART, '-n', 'studioline', '-f', join(REPO, 'k8s/values.yaml'), '--skip-tests'], { encoding: 'utf8' });
    const text = readFileSync(join(REPO, 'k8s/studioline.yaml'), 'utf8');
    assert.equal(text, rendered, 'k8s/ is stale: run `npm run k8s`');
    // As a plain Pod, the test would run at `kubectl apply` time, before the services are up, and stay in Error.
    const objects = YAML.parseAllDocuments(text).map((d) => d.toJSON()).filter(Boolean);
    assert.deepEqual(objects.filter((o) => o.kind === 'Pod' || o.metadata.annotations?.['helm.sh/hook']).map((o) => o.metadata.name), []);
  });

  it('helm test keeps its pod for `helm test --logs`, and labels it once', () => {
    const test = render().find((o) => o.kind === 'Pod')!;
    // hook-succeeded deletes the pod before helm reads its log: a passing `helm test --logs` exits 1.
    assert.equal(test.metadata.annotations['helm.sh/hook-delete-policy'], 'before-hook-creation');
    assert.equal(test.metadata.labels['app.kubernetes.io/component'], 'test', 'the NetworkPolicy lets the test pod in by this label');
    // `helm test --logs` reads the log of every test hook: a hook that is not a Pod fails it.
    const hooks = render().filter((o) => o.metadata.annotations?.['helm.sh/hook'] === 'test');
    assert.deepEqual(hooks.map((o) => o.kind), ['Pod']);
  });

  it('the quick start fits one 2-CPU node beside its control plane', () => {
    const objects = render();
    let total = 0;
    for (const o of objects.filter((x) => x.kind === 'Deployment')) {
      for (const c of o.spec.template.spec.containers) total += (o.spec.replicas ?? 1) * millicores(c.resources?.requests?.cpu);
    }
    const gateway = objects.find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-gateway'))!;
    const surge = millicores(gateway.spec.template.spec.containers[0].resources.requests.cpu) * gateway.spec.strategy.rollingUpdate.maxSurge;
    const test = millicores(objects.find((o) => o.kind === 'Pod')!.spec.containers[0].resources.requests.cpu);
    // A kubeadm or kind node's own pods (apiserver, controller-manager, scheduler, etcd, CoreDNS) request about 950m of its 2000m.
    assert.ok(total + surge + test <= 1000, `the release requests ${total}m, ${surge}m more while a gateway rolls and ${test}m for helm test`);
    assert.ok(millicores(render('-f', join(CHART, 'ci/production-values.yaml')).find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-gateway'))!.spec.template.spec.containers[0].resources.requests.cpu) >= 1000, 'production values size gateways for load');
  });

  it('every pod passes Pod Security "restricted", for every value set', () => {
    for (const values of [[], ['--set', 'certify.enabled=true'], ...valueSets.map((f) => ['-f', f])]) {
      for (const [name, spec] of podSpecs(render(...values))) {
        for (const c of spec.containers) {
          const where = `${name} container ${c.name} (${values.join(' ') || 'defaults'})`;
          const sc = c.securityContext ?? {};
          assert.equal(sc.allowPrivilegeEscalation, false, where);
          assert.deepEqual(sc.capabilities?.drop, ['ALL'], where);
          assert.equal(sc.runAsNonRoot ?? spec.securityContext?.runAsNonRoot, true, where);
          assert.equal((sc.seccompProfile ?? spec.securityContext?.seccompProfile)?.type, 'RuntimeDefault', where);
        }
      }
    }
  });

  it('the bundled Redis takes its pull policy from redis.bundled.pullPolicy', () => {
    const redis = (objects: Record<string, any>[]) => objects.find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-redis'))!.spec.template.spec.containers[0];
    assert.equal(redis(render()).imagePullPolicy, 'IfNotPresent');
    assert.equal(redis(render('--set', 'redis.bundled.pullPolicy=Never')).imagePullPolicy, 'Never', 'a cluster with local images only');
  });

  it('values.schema.json is generated from values.yaml, and every value is documented', () => {
    const result = spawnSync(process.execPath, [join(REPO, 'scripts/chart-schema.mjs'), '--check'], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    const typo = spawnSync(helm.path!, ['template', 'x', CHART, '--set', 'gateway.replicaCuont=3'], { encoding: 'utf8' });
    assert.notEqual(typo.status, 0, 'the schema refuses unknown values');
  });
});
