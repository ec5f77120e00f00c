/**
 * `studioline peer` on a line with a host (issue 14, item 3): the host makes the line with --name,
 * excludes a peer by name on its timeline and prints the new link; the excluded peer's call ends
 * (exit 3), the one that stays follows to the new line; every peer prints the membership counters.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Embedded, startEmbedded } from './helpers/embedded.js';
import { CLI, runCli } from './helpers/processes.js';

describe('studioline peer with membership', () => {
  let server: Embedded;
  before(async () => {
    server = await startEmbedded({ lineCapacity: 4 }, { maxSpeakers: 3 });
  });
  after(() => server?.stop());

  it('--help names every membership option', async () => {
    const { code, stdout } = await runCli(['peer', '--help']);
    assert.equal(code, 0);
    for (const option of ['--name NAME', '--colour RRGGBB', '--exclude WHO[@S]', '--promote WHO[@S]']) assert.ok(stdout.includes(option), `--help shows ${option}`);
  });

  it('a bad name or colour is a usage error (exit 2)', async () => {
    const link = `${server.url}/#apikey=${server.apiKey}&generate_leaf`;
    assert.equal((await runCli(['peer', link, '--name', 'x'.repeat(65)])).code, 2);
    assert.equal((await runCli(['peer', link, '--name', 'desk', '--colour', 'red'])).code, 2);
    assert.equal((await runCli(['peer', link, '--exclude', 'cam2'])).code, 2, '--exclude needs a line with a host');
  });

  it('the host excludes a peer by name: it prints the new link, the excluded call ends, the other follows', async (t) => {
    const host = spawn(process.execPath, [CLI, 'peer', `${server.url}/#apikey=${server.apiKey}&generate_leaf&peers=4&mobile=1`, '--name', 'desk', '--exclude', 'cam2@1.5', '--seconds', '5'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let hostErr = '';
    let hostOut = '';
    host.stdout.on('data', (c) => (hostOut += c));
    const link = await new Promise<string>((resolve, reject) => {
      host.stderr.on('data', (c) => {
        hostErr += c;
        const m = /with you as its host[^\n]*\n\s+(\S+)/.exec(hostErr);
        if (m) resolve(m[1]);
      });
      host.on('exit', () => reject(new Error(`the host ended early:\n${hostErr}`)));
    });
    assert.match(link, /&host=[A-Za-z0-9_-]{43}/, 'the link names the host key');
    const hostDone = new Promise<number | null>((resolve) => host.on('exit', resolve));
    const [cam2, ann] = await Promise.all([runCli(['peer', link, '--name', 'cam2', '--seconds', '5']), runCli(['peer', link, '--name', 'ann', '--seconds', '5'])]).catch((err: Error) => {
      throw new Error(`${err.message}\nthe host:\n${hostErr}`);
    });
    const hostCode = await hostDone;
    t.diagnostic(`host: ${hostOut.trim()}\nann: ${ann.stdout.trim()}\ncam2 exit ${cam2.code}`);
    assert.equal(hostCode, 0, hostErr);
    assert.equal(cam2.code, 3, `the excluded peer's call ends as refused:\n${cam2.stderr}\nthe host:\n${hostErr}`);
    assert.match(cam2.stderr, /excluded/);
    const newLink = /line moved to a new link[^\n]*\n\s+(\S+)/.exec(hostErr)?.[1];
    assert.ok(newLink && newLink !== link, 'the host printed the new link');
    assert.ok(ann.stderr.includes(newLink!), `ann printed the same new link:\n${ann.stderr}`);
    assert.equal(ann.code, 0, ann.stderr);
    assert.match(ann.stdout, /membership: epoch \d+, rekeys [12], messages accepted \d+, refused 0/);
    assert.match(hostOut, /membership: epoch \d+, rekeys [12]/);
    assert.match(hostErr, /on the line: .*ann/);
  });

  it('`studioline link --host` keeps the host key in the home, readable only by its owner; `studioline peer` with that link there is the host and excludes a peer', async (t) => {
    const [home, otherHome] = [mkdtempSync(join(tmpdir(), 'sl-page-members-home-')), mkdtempSync(join(tmpdir(), 'sl-page-members-other-'))];
    t.after(() => [home, otherHome].forEach((d) => rmSync(d, { recursive: true, force: true })));
    const made = await runCli(['link', server.url, '--apikey', server.apiKey, '--host', '--peers', '4', '--mobile'], { STUDIOLINE_HOME: home });
    assert.equal(made.code, 0, made.stderr);
    const link = made.stdout.trim();
    const hostKey = /&host=([A-Za-z0-9_-]{43})/.exec(link)?.[1];
    assert.ok(hostKey, `the link names a host key: ${link}`);
    const file = join(home, 'hosts', `${hostKey}.key`);
    assert.equal(statSync(file).mode & 0o777, 0o600, 'the key file is readable only by its owner');
    const secret = readFileSync(file, 'utf8').trim();
    assert.ok(!made.stdout.includes(secret) && !made.stderr.includes(secret), 'the private key is not printed');
    assert.match(made.stderr, /you host this line/);
    // The host on this machine (its home holds the key), a member elsewhere (its own home).
    const [desk, cam2] = await Promise.all([
      runCli(['peer', link, '--name', 'desk', '--exclude', 'cam2@1.5', '--seconds', '5'], { STUDIOLINE_HOME: home }),
      runCli(['peer', link, '--name', 'cam2', '--seconds', '5'], { STUDIOLINE_HOME: otherHome }),
    ]);
    t.diagnostic(`desk: ${desk.stdout.trim()}`);
    assert.equal(desk.code, 0, desk.stderr);
    assert.match(desk.stderr, /you host this line/);
    assert.match(desk.stderr, /line moved to a new link/);
    assert.ok(!desk.stderr.includes(secret), 'the private key is not printed');
    assert.equal(cam2.code, 3, `the excluded peer's call ends as refused:\n${cam2.stderr}`);
    assert.match(cam2.stderr, /excluded/);
    // Elsewhere, the same link makes a member, and a member cannot exclude.
    const notHost = await runCli(['peer', link, '--name', 'x', '--exclude', 'desk', '--seconds', '1', '--no-wait'], { STUDIOLINE_HOME: otherHome });
    assert.match(notHost.stderr, /could not exclude desk|only the host/, notHost.stderr);
  });
});
