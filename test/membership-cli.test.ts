/**
 * `studioline peer` on a line with a host (issue 14, item 3): the host makes the line with --name,
 * excludes a peer by name on its timeline and prints the new link; the excluded peer's call ends
 * (exit 3), the one that stays follows to the new line; every peer prints the membership counters.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
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
    const [cam2, ann] = await Promise.all([runCli(['peer', link, '--name', 'cam2', '--seconds', '5']), runCli(['peer', link, '--name', 'ann', '--seconds', '5'])]);
    const hostCode = await hostDone;
    t.diagnostic(`host: ${hostOut.trim()}\nann: ${ann.stdout.trim()}\ncam2 exit ${cam2.code}`);
    assert.equal(hostCode, 0, hostErr);
    assert.equal(cam2.code, 3, `the excluded peer's call ends as refused:\n${cam2.stderr}`);
    assert.match(cam2.stderr, /excluded/);
    const newLink = /line moved to a new link[^\n]*\n\s+(\S+)/.exec(hostErr)?.[1];
    assert.ok(newLink && newLink !== link, 'the host printed the new link');
    assert.ok(ann.stderr.includes(newLink!), 'ann printed the same new link');
    assert.equal(ann.code, 0, ann.stderr);
    assert.match(ann.stdout, /membership: epoch \d+, rekeys [12], messages accepted \d+, refused 0/);
    assert.match(hostOut, /membership: epoch \d+, rekeys [12]/);
    assert.match(hostErr, /on the line: .*ann/);
  });
});
