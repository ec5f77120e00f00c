import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const BIN = join(__dirname, '..', '..', 'bin', 'sip-bridge.js');

function run(env: Record<string, string>) {
  return spawnSync(process.execPath, [BIN], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 20_000 });
}

describe('the sip-bridge process', () => {
  it('refuses a bad configuration with one sentence and exit code 2, before listening', () => {
    const missing = run({});
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^studioline-sip-bridge: SIP_DIRECTORY_FILE is required/);
    const dir = mkdtempSync(join(tmpdir(), 'sl-sip-bridge-bin-'));
    const file = join(dir, 'directory.json');
    writeFileSync(file, JSON.stringify({ phones: { '1001': { password: 'phone-secret-1001' } } }));
    const wildcard = run({ SIP_DIRECTORY_FILE: file, SIP_HOST: '0.0.0.0' });
    assert.equal(wildcard.status, 2);
    assert.match(wildcard.stderr, /set SIP_PUBLIC_ADDRESS/);
  });

  it('starts from the environment, is ready, and stops by itself on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sl-sip-bridge-bin-'));
    const file = join(dir, 'directory.json');
    writeFileSync(file, JSON.stringify({ phones: { '1001': { password: 'phone-secret-1001' } } }));
    const rtp = 40_000 + Math.floor(Math.random() * 20_000);
    const child = spawn(process.execPath, [BIN], {
      env: { PATH: process.env.PATH ?? '', SIP_DIRECTORY_FILE: file, SIP_PORT: '0', METRICS_PORT: '0', RTP_PORT_MIN: String(rtp), RTP_PORT_MAX: String(rtp + 49) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    const listening = await new Promise<{ metrics: string; sip: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not listening: ${out}`)), 15_000);
      const check = (c: Buffer) => {
        out += c.toString();
        const line = out.split('\n').find((l) => l.includes('SIP bridge listening'));
        if (line) {
          clearTimeout(timer);
          resolve(JSON.parse(line));
        }
      };
      child.stdout.on('data', check);
      child.stderr.on('data', check);
    });
    assert.match(listening.sip, /^127\.0\.0\.1:\d+$/);
    const ready = await fetch(`${listening.metrics}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ready: true, calls: 0, registered: 0, store: 'none' }, 'no Redis: the directory phones only');
    assert.match(await (await fetch(`${listening.metrics}/metrics`)).text(), /studioline_sip_registered_phones 0/);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
  });
});
