/**
 * Issue 17, accounts: SIP extensions managed like API keys. keys-admin creates them (REST, the
 * `studioline sip` CLI, labelled Secrets through a stand-in Kubernetes API) in a real redis-server,
 * storing only the password's digest; the SIP bridge reads them from that Redis, and real SIPp
 * registrations and calls show what a phone meets: its password works, a wrong or old one is
 * refused (403), a deleted extension is refused, an extension dials its own line only (403 for
 * another), and no password is ever in Redis, a log line or the metrics.
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { KeysAdminService } from '@studioline/keys-admin';
import { formatCallLink, generateLeaf } from '@studioline/protocol';
import { Backend, createLogger, createRedisBackend } from '@studioline/server-kit';
import { SIP_BRIDGE_DEFAULTS, SipBridge, parseDirectory } from '@studioline/sip-bridge';
import { metricValue } from './helpers/embedded.js';
import { KubeApiStandIn } from './helpers/kube-api-standin.js';
import { runCli } from './helpers/processes.js';
import { requireRedisServer } from './helpers/redis-ha.js';
import { inviteScenario, registerScenario, requireSipAgents, runSipp } from './helpers/sip-agents.js';

const ADMIN_TOKEN = 'sip-extensions-test-token';
const LINE = '500';
const OTHER_LINE = '510';
const skip = requireRedisServer() ?? requireSipAgents();

function freeTcpPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** Resolves once `probe` resolves true; fails after `ms` naming `what`. */
async function until(probe: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A log destination whose text the test reads. */
function capturedLog() {
  const stream = new PassThrough();
  const log = { text: '', stream };
  stream.on('data', (c: Buffer) => (log.text += c.toString()));
  return log;
}

describe('SIP extensions through keys-admin, read by the bridge from Redis', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sl-sip-ext-'));
  const prefix = `sipext${process.pid}:`;
  let redisProcess: ChildProcess;
  let redisUrl: string;
  let backend: Backend;
  let api: KubeApiStandIn;
  let admin: KeysAdminService;
  let bridge: SipBridge;
  const adminLog = capturedLog();
  const bridgeLog = capturedLog();
  const passwords: string[] = [];
  const cli = (...args: string[]) => runCli(['sip', ...args, '--admin-url', admin.url], { STUDIOLINE_ADMIN_TOKEN: ADMIN_TOKEN, HOME: '/nonexistent' });
  const register = (name: string, user: string, password: string, expect: number) =>
    runSipp(dir, name, registerScenario(expect), bridge.sipPort, ['-s', user, '-au', user, '-ap', password, '-t', 'u1']);

  before(async () => {
    const port = await freeTcpPort();
    redisProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    redisUrl = `redis://127.0.0.1:${port}`;
    backend = createRedisBackend({ url: redisUrl, prefix, logger: createLogger('redis', { level: 'silent' }) });
    assert.ok(await backend.waitReady(10_000), 'redis-server is up');
    api = new KubeApiStandIn('calls');
    const kubeConfig = await api.startWithKubeConfig();
    admin = KeysAdminService.create(
      { host: '127.0.0.1', port: 0, adminToken: ADMIN_TOKEN, sipRealm: 'studioline', secretSync: { namespace: 'calls', labelSelector: 'studioline.io/api-key', restartDelayMs: 200 } },
      { backend, logger: createLogger('keys-admin', { level: 'debug', destination: adminLog.stream }), kubeConfig },
    );
    await admin.start();
    await admin.secretsSynced;
    // Lines only: the accounts come from Redis. The links point nowhere this test dials into a call.
    const link = formatCallLink('http://127.0.0.1:9', 'k'.repeat(72), generateLeaf());
    const directory = parseDirectory(JSON.stringify({ lines: { [LINE]: { link }, [OTHER_LINE]: { link } } }), 'test directory', false);
    bridge = new SipBridge(
      { ...SIP_BRIDGE_DEFAULTS, host: '127.0.0.1', publicAddress: '127.0.0.1', sipPort: 0, metricsPort: 0, rtpPortMin: 41_000, rtpPortMax: 41_099, lineJoinTimeoutMs: 500, directory, redis: { url: redisUrl, prefix } },
      { logger: createLogger('sip-bridge', { level: 'debug', destination: bridgeLog.stream }) },
    );
    await bridge.start();
  });

  after(async () => {
    await bridge?.destroy();
    await admin?.destroy();
    await api?.stop();
    await backend?.close();
    redisProcess?.kill('SIGKILL');
  });

  it('an extension made through the REST API registers with its password (shown once, stored only as a digest); a wrong password gets 403', async () => {
    const res = await fetch(`${admin.url}/v1/sip/extensions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ extension: '1001', line: LINE, name: 'control room' }),
    });
    assert.equal(res.status, 201);
    const { extension, password } = (await res.json()) as { extension: Record<string, string>; password: string };
    passwords.push(password);
    assert.match(password, /^[A-Za-z0-9]{20}$/);
    assert.deepEqual({ ...extension, createdAt: undefined }, { extension: '1001', line: LINE, name: 'control room', realm: 'studioline', source: 'api', createdAt: undefined });
    const listed = await (await fetch(`${admin.url}/v1/sip/extensions`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    assert.ok(!listed.includes(password), 'the list never shows a password');

    const ok = await register('ext-rest', '1001', password, 200);
    assert.equal(ok.code, 0, `SIPp registers 1001: ${ok.output}\n${bridgeLog.text.slice(-1500)}`);
    const wrong = await register('ext-wrong', '1001', 'not-the-password-1', 403);
    assert.equal(wrong.code, 0, `a wrong password: 403: ${wrong.output}`);
    assert.equal(metricValue(await bridge.registry.metrics(), 'studioline_sip_registrations_total', { result: 'ok' }), 1);
  });

  it('bad extensions are refused with 400 and a reason; an unknown one is 404', async () => {
    const post = (body: unknown) =>
      fetch(`${admin.url}/v1/sip/extensions`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    for (const [body, why] of [
      [{ extension: '1002' }, /line must be/],
      [{ extension: 'a b', line: LINE }, /extension must be/],
      [{ extension: '1002', line: LINE, password: 'short' }, /password must be 12-128 characters/],
      [{ extension: LINE, line: LINE }, /cannot have the number of the line/],
    ] as const) {
      const res = await post(body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match(((await res.json()) as { message: string }).message, why);
    }
    const missing = await fetch(`${admin.url}/v1/sip/extensions/7777`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(missing.status, 404);
  });

  it('an extension dials its own line, not another (403)', async () => {
    const pcmu = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 6000 RTP/AVP 0', ''].join('\r\n');
    const auth = ['-s', '1001', '-au', '1001', '-ap', passwords[0], '-t', 'u1'];
    const other = await runSipp(dir, 'ext-other-line', inviteScenario(OTHER_LINE, pcmu, 403), bridge.sipPort, auth);
    assert.equal(other.code, 0, `1001 dialling ${OTHER_LINE}: 403: ${other.output}`);
    // Its own line is let through to the line itself, which this test's link cannot reach: 503.
    const own = await runSipp(dir, 'ext-own-line', inviteScenario(LINE, pcmu, 503), bridge.sipPort, auth);
    assert.equal(own.code, 0, `1001 dialling its line ${LINE} gets past the account checks: ${own.output}`);
    assert.equal(metricValue(await bridge.registry.metrics(), 'studioline_sip_calls_total', { result: 'forbidden' }), 1);
  });

  it('`studioline sip`: create, list, a new password (the old one stops), delete (the phone is refused)', async () => {
    const created = await cli('create', '--extension', '1003', '--line', LINE, '--name', 'reception', '--json');
    assert.equal(created.code, 0, created.stderr);
    const first = JSON.parse(created.stdout).password as string;
    passwords.push(first);
    const list = await cli('list');
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^1003\s+500\s+\S+\s+api\s+reception$/m);
    assert.equal((await register('cli-first', '1003', first, 200)).code, 0);

    const changed = await cli('password', '1003');
    assert.equal(changed.code, 0, changed.stderr);
    const second = changed.stdout.trim().split('\n').at(-1)!;
    passwords.push(second);
    assert.notEqual(second, first);
    const old = await register('cli-old', '1003', first, 403);
    assert.equal(old.code, 0, `the old password is refused at once: ${old.output}`);
    assert.equal((await register('cli-second', '1003', second, 200)).code, 0);

    const deleted = await cli('delete', '1003');
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /Deleted extension 1003/);
    const gone = await register('cli-gone', '1003', second, 403);
    assert.equal(gone.code, 0, `a deleted extension is refused: ${gone.output}`);
    const audit = (await backend.keys.audit(10)).filter((e) => e.keyId === 'sip:1003').map((e) => e.action);
    assert.deepEqual(audit, ['sip_delete', 'sip_password', 'sip_create']);
  });

  it('a labelled Secret is an extension: created, changed and deleted with it', async () => {
    const labels = { 'studioline.io/sip-extension': 'true' };
    const password = 'secret-from-kubernetes-1';
    passwords.push(password);
    api.applyData('desk-7', { password }, labels, { 'studioline.io/extension': '1007', 'studioline.io/line': LINE });
    await until(async () => (await backend.sipAccounts.get('1007')) !== undefined, 2000, 'the Secret mirrored');
    assert.equal((await backend.sipAccounts.get('1007'))?.source, 'k8s:calls/desk-7');
    assert.equal((await register('secret-1', '1007', password, 200)).code, 0);

    const next = 'secret-from-kubernetes-2';
    passwords.push(next);
    const before = (await backend.sipAccounts.get('1007'))!.ha1;
    api.applyData('desk-7', { password: next }, labels, { 'studioline.io/extension': '1007', 'studioline.io/line': LINE });
    await until(async () => (await backend.sipAccounts.get('1007'))?.ha1 !== before, 2000, 'the new password mirrored');
    assert.equal((await register('secret-old', '1007', password, 403)).code, 0, 'the old password is refused');
    assert.equal((await register('secret-2', '1007', next, 200)).code, 0);

    // A Secret naming an API-made extension does not take it over.
    api.applyData('hijack', { password: 'hijacking-password-1' }, labels, { 'studioline.io/extension': '1001', 'studioline.io/line': OTHER_LINE });
    await until(() => /names a SIP extension made through the API/.test(adminLog.text), 2000, 'the conflict warned about');
    assert.equal((await backend.sipAccounts.get('1001'))?.line, LINE);

    api.delete('desk-7');
    await until(async () => (await backend.sipAccounts.get('1007')) === undefined, 2000, 'the extension deleted with its Secret');
    assert.equal((await register('secret-gone', '1007', next, 403)).code, 0);
  });

  it('no password is in Redis, a log line or the metrics', async () => {
    const redis = new Redis(redisUrl);
    try {
      const keys = await redis.keys(`${prefix}*`);
      assert.ok(keys.some((k) => k.startsWith(`${prefix}sip-ext:`)), 'extensions are in Redis');
      let dump = keys.join('\n');
      for (const key of keys) {
        const type = await redis.type(key);
        if (type === 'hash') dump += JSON.stringify(await redis.hgetall(key));
        else if (type === 'string') dump += await redis.get(key);
        else if (type === 'list') dump += (await redis.lrange(key, 0, -1)).join('\n');
        else if (type === 'set') dump += (await redis.smembers(key)).join('\n');
      }
      const metrics = await bridge.registry.metrics();
      assert.ok(passwords.length >= 5);
      for (const p of passwords) {
        assert.ok(!dump.includes(p), 'no password in Redis');
        assert.ok(!adminLog.text.includes(p), 'no password in the keys-admin log');
        assert.ok(!bridgeLog.text.includes(p), 'no password in the bridge log');
        assert.ok(!metrics.includes(p), 'no password in the metrics');
      }
    } finally {
      redis.disconnect();
    }
  });

  it('while Redis cannot be read, REGISTER gets 503 (not 403: the password may be right) and the bridge is not ready', async () => {
    redisProcess.kill('SIGKILL');
    await until(async () => (await fetch(`${bridge.opsUrl}/readyz`)).status === 503, 10_000, 'the bridge not ready without its Redis');
    const down = await register('redis-down', '1001', passwords[0], 503);
    assert.equal(down.code, 0, `503 while the extensions cannot be read: ${down.output}`);
    assert.match(bridgeLog.text, /SIP request refused: the extensions cannot be read/);
  });
});
