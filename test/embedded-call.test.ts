/**
 * Acceptance 1 of the foundation: `npm start` serves with nothing else installed, and two
 * `studioline peer` processes on one link hear each other with no loss over 10 s at real rate.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeWav, dominantFrequency } from '@studioline/client';
import { REPO, runCli } from './helpers/processes.js';

describe('npm start: the embedded single-process server', () => {
  const home = mkdtempSync(join(tmpdir(), 'studioline-home-'));
  const env = { STUDIOLINE_HOME: home, ADMIN_PORT: '0', PATH: process.env.PATH ?? '', HOME: home };
  let server: ReturnType<typeof spawn>;
  let output = '';
  let url = '';

  before(async () => {
    server = spawn('npm', ['start', '--', '--port', '0'], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    server.stdout!.on('data', (c) => (output += c));
    server.stderr!.on('data', (c) => (output += c));
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not print its URL:\n${output}`)), 120_000);
      const check = () => {
        const m = /Studioline is running at (http:\/\/\S+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      server.stdout!.on('data', check);
      server.stderr!.on('data', check);
    });
  });

  after(async () => {
    if (server.pid) process.kill(-server.pid, 'SIGTERM');
    await new Promise((r) => server.on('exit', r));
  });

  it('serves the health endpoints and a page', async () => {
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as { relays: number }).relays, 1);
    assert.match(await (await fetch(url)).text(), /Studioline/);
  });

  it('two CLI peers hear each other: each recording holds the other tone, and no frame is lost in 10 s', async () => {
    const link = await runCli(['link', url], env);
    assert.equal(link.code, 0, link.stderr);
    const callLink = link.stdout.trim();
    assert.match(callLink, /#apikey=[a-zA-Z]{72}&leaf_[A-Za-z0-9_-]{43}$/);
    const a = join(home, 'a.wav');
    const b = join(home, 'b.wav');
    const [ra, rb] = await Promise.all([
      runCli(['peer', callLink, '--tone', '440', '--seconds', '10', '--record', a, '--json'], env),
      runCli(['peer', callLink, '--tone', '1000', '--seconds', '10', '--record', b, '--mix', '--json'], env),
    ]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
    const sa = JSON.parse(ra.stdout);
    const sb = JSON.parse(rb.stdout);
    // Every frame of the 10 s was sent, or skipped by a peer that fell behind real time (a busy
    // machine stalled it for over 200 ms: SEND_MAX_LATE_MS); those never reach the network.
    assert.equal(sa.sent + sa.skippedLate, 1000, ra.stdout + ra.stderr);
    assert.equal(sb.sent + sb.skippedLate, 1000, rb.stdout + rb.stderr);
    assert.equal(sa.received, sb.sent, `a received every frame b sent: ${ra.stdout} ${rb.stdout}`);
    assert.equal(sb.received, sa.sent, `b received every frame a sent: ${ra.stdout} ${rb.stdout}`);
    // Nothing lost on the way: a listener misses only what its partner skipped itself.
    for (const [s, other] of [[sa, sb], [sb, sa]]) {
      assert.ok(s.lost <= other.skippedLate, `lost ${s.lost}, skipped by the sender ${other.skippedLate}`);
      assert.deepEqual([s.replayed, s.decryptFailed], [0, 0]);
    }

    // One track per sender heard: a.<sender>.wav; b asked for the mix too, written to b.wav.
    const tracks = (prefix: string) => readdirSync(home).filter((f) => new RegExp(`^${prefix}\\.[0-9a-f]{1,12}\\.wav$`).test(f));
    assert.equal(tracks('a').length, 1, `a wrote one track: ${readdirSync(home).join(' ')}`);
    assert.equal(tracks('b').length, 1);
    assert.match(ra.stderr, /recorded \d+\.\d\d s of sender [0-9a-f]+ at 200000 Hz to .*a\.[0-9a-f]+\.wav/);
    assert.ok(!readdirSync(home).includes('a.wav'), 'no mix unless asked');
    const heardByA = decodeWav(readFileSync(join(home, tracks('a')[0])));
    const heardByB = decodeWav(readFileSync(join(home, tracks('b')[0])));
    assert.deepEqual(decodeWav(readFileSync(b)).samples, heardByB.samples, 'with one sender the mix is its track');
    assert.equal(heardByA.sampleRate, 200_000);
    // From b's first frame to its last: 10 s, less any frames b skipped at either end.
    assert.ok(heardByA.samples.length <= 1000 * 2000 && heardByA.samples.length >= sb.sent * 2000, `a's track of b: ${heardByA.samples.length / 2000} frames`);
    assert.ok(Math.abs(dominantFrequency(heardByA.samples, heardByA.sampleRate) - 1000) < 1, 'a heard b’s 1000 Hz tone');
    assert.ok(Math.abs(dominantFrequency(heardByB.samples, heardByB.sampleRate) - 440) < 1, 'b heard a’s 440 Hz tone');
    assert.equal(output.match(/connection received/g)?.length, 2);
  });
});
