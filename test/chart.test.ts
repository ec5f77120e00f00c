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
  return YAML.parseAllDocuments(out).map((d) => d.toJSON()).filter(Boolean);
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

  it('the default release fits one 2-CPU node, through a gateway rollout and `helm test`', () => {
    const objects = render();
    const cpu = (q: string) => (q.endsWith('m') ? Number(q.slice(0, -1)) : Number(q) * 1000);
    const requested = (pod: Record<string, any>) => pod.spec.containers.reduce((sum: number, c: Record<string, any>) => sum + cpu(c.resources?.requests?.cpu ?? '0'), 0);
    let total = 0;
    let surge = 0;
    for (const o of objects) {
      if (o.kind === 'Deployment') {
        total += requested(o.spec.template) * o.spec.replicas;
        if (o.metadata.name.endsWith('-gateway')) surge = requested(o.spec.template) * o.spec.strategy.rollingUpdate.maxSurge;
      }
      if (o.kind === 'Pod') total += requested(o);
    }
    // A 2-CPU node keeps about 0.3 CPU for its own pods (DNS, the CNI, kube-proxy).
    assert.ok(total + surge <= 1700, `${total} m CPU requested, ${surge} m more while a gateway rolls: more than a 2-CPU node has left`);
  });

  it('the bundled Redis passes Pod Security "restricted" and takes a pull policy; the test pod stays for `helm test --logs`', () => {
    const objects = render('--set', 'redis.bundled.pullPolicy=Always');
    const redis = objects.find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-redis'))!.spec.template.spec;
    assert.deepEqual(redis.securityContext.seccompProfile, { type: 'RuntimeDefault' });
    assert.equal(redis.securityContext.runAsNonRoot, true);
    assert.equal(redis.containers[0].imagePullPolicy, 'Always');
    assert.deepEqual(redis.containers[0].securityContext.capabilities.drop, ['ALL']);
    assert.equal(redis.containers[0].securityContext.allowPrivilegeEscalation, false);
    const test = objects.find((o) => o.kind === 'Pod')!;
    assert.equal(test.metadata.annotations['helm.sh/hook-delete-policy'], 'before-hook-creation', 'not deleted on success: its log is read after');
    assert.equal(test.metadata.labels['app.kubernetes.io/component'], 'test');
    const source = execFileSync(helm.path!, ['template', 'studioline', CHART, '-n', 'studioline', '--show-only', 'templates/tests/certify-test.yaml'], { encoding: 'utf8' });
    const labelBlock = source.slice(source.indexOf('kind: Pod')).split('annotations:')[0];
    for (const label of ['app.kubernetes.io/name', 'app.kubernetes.io/instance']) assert.equal(labelBlock.split(label).length, 2, `${label} appears once in the test pod's labels`);
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

  it('k8s/studioline.yaml is the chart rendered with k8s/values.yaml', () => {
    const rendered = execFileSync(helm.path!, ['template', 'studioline', CHART, '-n', 'studioline', '--skip-tests', '-f', join(REPO, 'k8s/values.yaml')], { encoding: 'utf8' });
    assert.equal(readFileSync(join(REPO, 'k8s/studioline.yaml'), 'utf8'), rendered, 'k8s/ is stale: run `npm run k8s`');
    const plain = YAML.parseAllDocuments(rendered).map((d) => d.toJSON()).filter(Boolean);
    assert.equal(plain.some((o) => o.metadata?.annotations?.['helm.sh/hook']), false, 'no `helm test` object: kubectl would run it at once, before the services are up');
  });

  it('values.schema.json is generated from values.yaml, and every value is documented', () => {
    const result = spawnSync(process.execPath, [join(REPO, 'scripts/chart-schema.mjs'), '--check'], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    const typo = spawnSync(helm.path!, ['template', 'x', CHART, '--set', 'gateway.replicaCuont=3'], { encoding: 'utf8' });
    assert.notEqual(typo.status, 0, 'the schema refuses unknown values');
  });
});
