/**
 * Issue 17, deployment: the SIP bridge's image (the Dockerfile's `sip-bridge` target) runs the
 * bridge as the chart does (read-only root, uid 10001, the directory mounted read-only): a bad
 * setting exits 2 with its message, a good one is ready, SIPp registers through the published UDP
 * port with digest authentication, and SIGTERM stops it cleanly.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SIP_BRIDGE_IMAGE, requireImages } from './helpers/env.js';
import { registerScenario, requireSipAgents, runSipp } from './helpers/sip-agents.js';

const PHONE = { user: '1001', password: 'phone-secret-1001' };
const skip = requireImages([SIP_BRIDGE_IMAGE]) ?? requireSipAgents();
const name = `sl-sip-image-${process.pid}-${Date.now().toString(36)}`;

describe('the SIP bridge image', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sl-sip-image-'));
  let sipPort = 0;
  let opsPort = 0;

  before(async () => {
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'directory.json'), JSON.stringify({ phones: { [PHONE.user]: { password: PHONE.password } }, lines: {} }), { mode: 0o644 });
  });

  after(() => {
    spawnSync('docker', ['rm', '-f', name], { stdio: 'ignore' });
  });

  it('exits 2 with the setting to change when the directory is missing', () => {
    const run = spawnSync('docker', ['run', '--rm', '--label', 'org.testcontainers=true', SIP_BRIDGE_IMAGE], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /SIP_DIRECTORY_FILE is required/);
  });

  it('is ready, registers a phone over UDP through the published port, and stops on SIGTERM', async () => {
    execFileSync('docker', [
      'run', '-d', '--name', name, '--label', 'org.testcontainers=true', '--read-only', '--tmpfs', '/tmp',
      // Docker picks the host ports (a port found free here and bound by Docker later may be taken meanwhile).
      '-p', '127.0.0.1::5060/udp', '-p', '127.0.0.1::9090',
      '-v', `${dir}:/etc/sip:ro`, '-e', 'SIP_DIRECTORY_FILE=/etc/sip/directory.json', '-e', 'SIP_PUBLIC_ADDRESS=127.0.0.1',
      SIP_BRIDGE_IMAGE,
    ]);
    const published = (port: string) => Number(execFileSync('docker', ['port', name, port], { encoding: 'utf8' }).trim().split('\n')[0].split(':').pop());
    sipPort = published('5060/udp');
    opsPort = published('9090/tcp');
    // Docker's proxy accepts a connection to a published port before the container listens, and
    // such a request may never be answered: each try has its own deadline.
    // (AbortSignal.timeout's timer does not hold the event loop open: node:test would end the file.)
    const readyz = () => {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), 1000);
      return fetch(`http://127.0.0.1:${opsPort}/readyz`, { signal: abort.signal }).then((r) => r.status, () => 0).finally(() => clearTimeout(timer));
    };
    let ready = 0;
    for (let waited = 0; ready !== 200 && waited < 30_000; waited += 1250) {
      ready = await readyz();
      if (ready !== 200) await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(ready, 200, execFileSync('docker', ['logs', name], { encoding: 'utf8' }));
    const register = await runSipp(dir, 'register', registerScenario(200), sipPort, ['-s', PHONE.user, '-au', PHONE.user, '-ap', PHONE.password, '-t', 'u1']);
    assert.equal(register.code, 0, `SIPp REGISTER through the image: ${register.output}`);
    const metrics = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
    assert.match(metrics, /^studioline_sip_registered_phones 1$/m);
    execFileSync('docker', ['stop', '-t', '10', name]);
    const state = JSON.parse(execFileSync('docker', ['inspect', '-f', '{{json .State}}', name], { encoding: 'utf8' }));
    assert.equal(state.ExitCode, 0, 'SIGTERM: the bridge destroys itself and exits 0');
  });
});
