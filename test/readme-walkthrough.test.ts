/**
 * The README's terminal walkthrough, run word for word: the ```sh blocks that start with
 * "# terminal N" are read from README.md and each line is run by bash, as a newcomer would type it,
 * each terminal its own shell in a fresh home. So the documentation and the code cannot drift:
 * changing a command in one without the other fails here.
 *
 * The only differences from a newcomer's machine: PORT=0 and ADMIN_PORT=0 for the server (tests
 * use free ports; the clients find it through ~/.studioline/server.json, as they do on any port),
 * and npm told to stay offline (npx must find the checkout's own `studioline`, never download one).
 */
import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { AddressInfo, createServer } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { STUDIOLINE_IMAGE, requireImages } from './helpers/env.js';
import { REPO, runCli } from './helpers/processes.js';

interface Terminal {
  number: number;
  title: string;
  /** Command lines, in order. */
  commands: string[];
  /** Comment lines after the first: what the README says the terminal prints. */
  expected: string[];
}

/** The walkthrough's terminals, from README.md. */
export function readmeTerminals(readme: string): Terminal[] {
  const terminals: Terminal[] = [];
  for (const block of readme.matchAll(/^```sh\n(# terminal (\d+)[^\n]*)\n([\s\S]*?)^```$/gm)) {
    const lines = block[3].split('\n').filter((l) => l.trim());
    terminals.push({
      number: Number(block[2]),
      title: block[1],
      commands: lines.filter((l) => !l.startsWith('#')),
      expected: lines.filter((l) => l.startsWith('# ')).map((l) => l.slice(2)),
    });
  }
  return terminals.sort((a, b) => a.number - b.number);
}

function bash(command: string, cwd: string, env: Record<string, string>): ChildProcess & { output: () => string; done: Promise<number | null> } {
  const child = spawn('bash', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  const done = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return Object.assign(child, { output: () => out, done });
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the README walkthrough, word for word', () => {
  const home = mkdtempSync(join(tmpdir(), 'sl-readme-'));
  const work = join(home, 'work');
  let server: ReturnType<typeof bash> | undefined;
  after(async () => {
    if (server && server.exitCode === null) {
      process.kill(-server.pid!, 'SIGTERM');
      await server.done;
    }
    rmSync(home, { recursive: true, force: true });
  });

  it('makes a call from three terminals as documented', { timeout: 240_000 }, async (t) => {
    const terminals = readmeTerminals(readFileSync(join(REPO, 'README.md'), 'utf8'));
    assert.deepEqual(terminals.map((x) => x.number), [1, 2, 3], 'the README documents terminals 1, 2 and 3');
    const [first, ...peers] = terminals;
    assert.deepEqual(first.commands, ['npm start']);

    // A newcomer's shell: their HOME, npm, the repository's own `studioline` found by npx.
    const base = { PATH: process.env.PATH ?? '', HOME: home, npm_config_offline: 'true', npm_config_update_notifier: 'false', npm_config_fund: 'false' };
    mkdirSync(work);
    symlinkSync(join(REPO, 'node_modules'), join(work, 'node_modules'));

    server = bash(first.commands[0], REPO, { ...base, PORT: '0', ADMIN_PORT: '0' });
    const serverFile = join(home, '.studioline', 'server.json');
    await until('the server to start (npm start builds first)', () => existsSync(serverFile) || server!.exitCode !== null, 180_000);
    assert.ok(existsSync(serverFile), `npm start did not start:\n${server.output()}`);
    assert.match(server.output(), /npx studioline link --out call\.link/, 'the banner shows what a newcomer types');

    // Each terminal runs its lines in order; the last may wait for the next terminal (a peer waits
    // for the other), so the next terminal starts once the earlier lines are done.
    const running: { terminal: Terminal; last: ReturnType<typeof bash> }[] = [];
    for (const terminal of peers) {
      for (const command of terminal.commands.slice(0, -1)) {
        const step = bash(command, work, base);
        assert.equal(await step.done, 0, `${terminal.title}\n$ ${command}\n${step.output()}`);
      }
      running.push({ terminal, last: bash(terminal.commands.at(-1)!, work, base) });
    }
    for (const { terminal, last } of running) {
      assert.equal(await last.done, 0, `${terminal.title}\n$ ${terminal.commands.at(-1)}\n${last.output()}`);
      t.diagnostic(`terminal ${terminal.number}: ${last.output().trim().split('\n').at(-1)}`);
      // The printed line has the documented shape; the figures themselves (no frame lost) are the
      // embedded-call test's to check, on a machine this test does not ask to be quiet.
      for (const line of terminal.expected) {
        const shape = new RegExp(line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\d+/g, '\\d+'));
        assert.match(last.output(), shape, `terminal ${terminal.number} prints a line like "${line}"`);
      }
      assert.match(last.output(), /received [1-9]\d*/, `terminal ${terminal.number} heard the other peer`);
    }
    // What the walkthrough says it leaves: the link (readable only by its owner) and a recording of
    // the other peer for each side, one file per sender heard (heard-by-a.<sender>.wav).
    assert.equal(statSync(join(work, 'call.link')).mode & 0o777, 0o600);
    for (const side of ['a', 'b']) {
      const tracks = readdirSync(work).filter((f) => f.startsWith(`heard-by-${side}.`) && f.endsWith('.wav'));
      assert.equal(tracks.length, 1, `one recording for peer ${side}'s one partner: ${tracks.join(', ')}`);
      assert.ok(statSync(join(work, tracks[0])).size > 1_000_000, `${tracks[0]} holds 10 s of audio`);
    }
  });
});

/** The README's image block: the ```sh block that starts with `docker build -t studioline .`. */
export function readmeImageBlock(readme: string): string[] {
  const block = /^```sh\n(docker build -t studioline \.[\s\S]*?)^```$/m.exec(readme);
  assert.ok(block, 'README.md has a ```sh block starting with `docker build -t studioline .`');
  return block[1].split('\n').filter((l) => l.trim() && !l.startsWith('#')).map((l) => l.replace(/\s+#.*$/, ''));
}

/**
 * The image block, run as written but for three names a shared machine needs: the image CI built
 * ($STUDIOLINE_IMAGE: the `docker build` line itself is not rerun, it takes minutes), a unique
 * container name and a free host port instead of 7777.
 */
describe('the README image walkthrough', { skip: requireImages([STUDIOLINE_IMAGE]), timeout: 120_000 }, () => {
  const home = mkdtempSync(join(tmpdir(), 'sl-readme-image-'));
  const name = `sl-readme-${randomBytes(4).toString('hex')}`;
  after(() => {
    try {
      execFileSync('docker', ['rm', '-f', name], { stdio: 'ignore' });
    } catch {
      /* never started */
    }
    rmSync(home, { recursive: true, force: true });
  });

  it('builds nothing new, needs no docker exec, prints no 0.0.0.0, and its link makes a call', async () => {
    const lines = readmeImageBlock(readFileSync(join(REPO, 'README.md'), 'utf8'));
    assert.equal(lines[0], 'docker build -t studioline .');
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const script = lines
      .slice(1)
      .map((l) =>
        l
          .replace(/127\.0\.0\.1:7777:7777/g, `127.0.0.1:${port}:7777`)
          .replace(/127\.0\.0\.1:7777/g, `127.0.0.1:${port}`)
          .replace('--name studioline', `--name ${name}`)
          .replace(/ studioline keygen\)/, ` ${STUDIOLINE_IMAGE} keygen)`)
          .replace(/ studioline$/, ` ${STUDIOLINE_IMAGE}`),
      );
    const work = join(home, 'work');
    mkdirSync(work);
    symlinkSync(join(REPO, 'node_modules'), join(work, 'node_modules'));
    const env = { PATH: process.env.PATH ?? '', HOME: home, npm_config_offline: 'true', npm_config_update_notifier: 'false' };
    // One shell, as a person types it: the exported APIKEY carries from line to line. The server
    // needs a moment to listen before the link is used, as it does for a person.
    const run = bash(['set -e', ...script.slice(0, -1), `for i in $(seq 1 100); do docker logs ${name} 2>&1 | grep -q 'gateway listening' && break; sleep 0.2; done`, script.at(-1)!].join('\n'), work, env);
    assert.equal(await run.done, 0, `${script.join('\n')}\n${run.output()}`);
    // The banner (what a person reads; the JSON log lines may say where the socket is bound).
    const banner = spawnSync('docker', ['logs', name], { encoding: 'utf8' }).stderr.split('\n').filter((l) => !l.startsWith('{')).join('\n');
    assert.ok(banner.includes(`Studioline is running at http://127.0.0.1:${port} `), `PUBLIC_URL is what it prints:\n${banner}`);
    assert.doesNotMatch(banner, /0\.0\.0\.0/, 'no 0.0.0.0 address offered to open');
    const link = readFileSync(join(work, 'call.link'), 'utf8').trim();
    assert.ok(link.startsWith(`http://127.0.0.1:${port}/#apikey=`), link);
    const [a, b] = await Promise.all([runCli(['peer', link, '--seconds', '2', '--tone', '440']), runCli(['peer', link, '--seconds', '2', '--tone', '1000'])]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.match(a.stdout, /received [1-9]\d*/);
  });
});
