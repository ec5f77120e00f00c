/**
 * Issue 17, deployment: the chart's SIP bridge component. Off by default; on, it renders a
 * one-replica Deployment whose SIP and RTP ports are exposed as hostPorts (or a NodePort Service
 * whose node ports equal them: the SDP names the port), a NetworkPolicy for SIP and the RTP range,
 * probes on the bridge's ops port, and NOTES that say which ports a firewall must pass. Bad values
 * fail with the chart's own message. (Lint and the Kubernetes schema for ci/sip-bridge-values.yaml:
 * chart.test.ts, which runs every CI value set.)
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import YAML from 'yaml';
import { REPO } from './helpers/processes.js';
import { tool } from './helpers/tools.js';

const helm = tool('helm');
const CHART = join(REPO, 'charts/studioline');
const ON = ['-f', join(CHART, 'ci/sip-bridge-values.yaml')];

function render(...args: string[]): Record<string, any>[] {
  const out = execFileSync(helm.path!, ['template', 'studioline', CHART, '-n', 'studioline', ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return YAML.parseAllDocuments(out)
    .map((d) => d.toJSON())
    .filter(Boolean);
}

const isBridge = (o: Record<string, any>) => o.metadata?.name?.endsWith('-sip-bridge');
const bridgeOf = (objects: Record<string, any>[], kind: string) => objects.find((o) => o.kind === kind && isBridge(o));

describe('Helm chart: the SIP bridge', { skip: helm.skip }, () => {
  it('is off by default', () => {
    assert.deepEqual(render().filter(isBridge), []);
  });

  it('exposes SIP (UDP and TCP) and every RTP port of the range as hostPorts, with the env the bridge reads, probes and one replica', () => {
    const deployment = bridgeOf(render(...ON), 'Deployment')!;
    assert.ok(deployment, 'a Deployment');
    assert.equal(deployment.spec.replicas, 1, 'registrations live in one bridge');
    assert.equal(deployment.spec.strategy.type, 'Recreate', 'the old pod frees the node ports first');
    const container = deployment.spec.template.spec.containers[0];
    assert.deepEqual(container.command, ['node', '/app/services/sip-bridge/bin/sip-bridge.js']);
    const env = Object.fromEntries(container.env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [e.name, e.value ?? e.valueFrom]));
    assert.equal(env.SIP_HOST, '0.0.0.0');
    assert.deepEqual(env.SIP_PUBLIC_ADDRESS, { fieldRef: { fieldPath: 'status.hostIP' } }, 'by default phones are told the node address');
    assert.equal(env.RTP_PORT_MIN, '20000');
    assert.equal(env.RTP_PORT_MAX, '20049');
    assert.equal(env.SIP_DIRECTORY_FILE, '/etc/studioline/sip/directory.json');
    assert.equal(env.REDIS_URL, 'redis://studioline-redis:6379', 'extensions come from Redis');
    const ports: { containerPort: number; hostPort?: number; protocol: string }[] = container.ports;
    const rtp = ports.filter((p) => p.protocol === 'UDP' && p.containerPort >= 20000 && p.containerPort <= 20049);
    assert.equal(rtp.length, 50, 'one port entry per RTP port');
    assert.ok(rtp.every((p) => p.hostPort === p.containerPort));
    assert.deepEqual(ports.filter((p) => p.containerPort === 5060).map((p) => [p.protocol, p.hostPort]), [['UDP', 5060], ['TCP', 5060]]);
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');
    assert.equal(container.livenessProbe.httpGet.path, '/healthz');
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.ok(container.resources.requests.cpu, 'a CPU request');
    const secretVolume = deployment.spec.template.spec.volumes.find((v: { secret?: unknown }) => v.secret);
    assert.equal(secretVolume.secret.secretName, 'studioline-sip-lines');
    const config = render(...ON).find((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-config'))!;
    assert.equal(config.data.SIP_REALM, 'studioline', 'the realm keys-admin and the bridge share');
  });

  it('in nodePort mode, a NodePort Service with node ports equal to the SIP and RTP ports and no source NAT', () => {
    const objects = render(...ON, '--set', 'sipBridge.expose=nodePort,sipBridge.sipPort=30060,sipBridge.rtpPortMin=30100,sipBridge.rtpPortMax=30149');
    const service = bridgeOf(objects, 'Service')!;
    assert.equal(service.spec.type, 'NodePort');
    assert.equal(service.spec.externalTrafficPolicy, 'Local', 'the bridge listens to the phone’s own address');
    const udp = service.spec.ports.filter((p: { protocol: string; name: string }) => p.protocol === 'UDP' && p.name.startsWith('rtp-'));
    assert.equal(udp.length, 50);
    assert.ok(service.spec.ports.filter((p: { name: string }) => p.name !== 'metrics').every((p: { port: number; nodePort: number }) => p.port === p.nodePort));
    const container = bridgeOf(objects, 'Deployment')!.spec.template.spec.containers[0];
    assert.ok(container.ports.every((p: { hostPort?: number }) => p.hostPort === undefined), 'no hostPort in nodePort mode');
  });

  it('a NetworkPolicy lets SIP and the RTP range in from the phones’ ranges, and lets the bridge reach the gateways', () => {
    const objects = render(...ON);
    const policy = bridgeOf(objects, 'NetworkPolicy')!;
    const [phones, scrape] = policy.spec.ingress;
    assert.deepEqual(phones.from, [{ ipBlock: { cidr: '192.0.2.0/24' } }]);
    assert.deepEqual(phones.ports, [
      { port: 5060, protocol: 'UDP' },
      { port: 5060, protocol: 'TCP' },
      { port: 20000, endPort: 20049, protocol: 'UDP' },
    ]);
    assert.equal(scrape.ports[0].port, 9090);
    const open = bridgeOf(render(...ON, '--set', 'sipBridge.phoneCidrs=null'), 'NetworkPolicy')!;
    assert.equal(open.spec.ingress[0].from, undefined, 'no phoneCidrs: phones from anywhere');
    const gateway = objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name.endsWith('-gateway'))!;
    assert.ok(
      gateway.spec.ingress[0].from.some((f: any) => f.podSelector?.matchLabels?.['app.kubernetes.io/component'] === 'sip-bridge'),
      'the bridge joins lines through the gateway Service',
    );
  });

  it('the quick start with the bridge on still fits one 2-CPU node beside its control plane', () => {
    const objects = render('--set', 'sipBridge.enabled=true,sipBridge.directorySecret=lines');
    let total = 0;
    for (const o of objects.filter((x) => x.kind === 'Deployment')) for (const c of o.spec.template.spec.containers) total += (o.spec.replicas ?? 1) * parseInt(c.resources.requests.cpu, 10);
    // The gateway's rolling surge (150m) and the helm test pod (100m), as chart.test.ts counts them.
    assert.ok(total + 150 + 100 <= 1000, `the release requests ${total}m`);
  });

  it('NOTES.txt says where phones register and which UDP range a firewall must pass', () => {
    const copy = mkdtempSync(join(tmpdir(), 'sl-sip-chart-notes-'));
    cpSync(CHART, copy, { recursive: true });
    renameSync(join(copy, 'templates/NOTES.txt'), join(copy, 'notes.src'));
    writeFileSync(join(copy, 'templates/notes.yaml'), 'notes: |\n{{ tpl (.Files.Get "notes.src") . | indent 2 }}\n');
    const out = execFileSync(helm.path!, ['template', 'studioline', copy, '-n', 'studioline', ...ON, '--show-only', 'templates/notes.yaml'], { encoding: 'utf8' });
    rmSync(copy, { recursive: true, force: true });
    const notes = YAML.parse(out).notes as string;
    assert.match(notes, /phones register to the node's address:5060 \(UDP or TCP\)/);
    assert.match(notes, /RTP is one UDP port per call from 20000-20049, exposed as a hostPort range/);
    assert.match(notes, /must pass SIP and that whole UDP range/);
    assert.match(notes, /studioline\.js sip create --extension 1001 --line 500/);
  });

  it('bad values fail with the chart’s own message', () => {
    const cases: [string[], RegExp][] = [
      [['--set', 'sipBridge.enabled=true'], /sipBridge.enabled needs sipBridge.directorySecret/],
      [[...ON, '--set', 'sipBridge.maxCalls=80'], /holds 50 ports, fewer than sipBridge.maxCalls \(80\)/],
      [[...ON, '--set', 'sipBridge.rtpPortMin=20100'], /sipBridge.rtpPortMin \(20100\) is above sipBridge.rtpPortMax \(20049\)/],
      [[...ON, '--set', 'sipBridge.expose=nodePort'], /must lie in the NodePort range 30000-32767/],
      [[...ON, '--set', 'sipBridge.rtpPortMax=22000'], /more than 1000 ports/],
      [[...ON, '--set', 'sipBridge.expose=hostNetwork'], /at '\/sipBridge\/expose': value must be one of 'hostPort', 'nodePort'/],
    ];
    for (const [args, message] of cases) {
      const result = spawnSync(helm.path!, ['template', 'x', CHART, ...args], { encoding: 'utf8' });
      assert.notEqual(result.status, 0, `${args.join(' ')} rendered`);
      assert.match(result.stderr, message);
    }
  });
});
