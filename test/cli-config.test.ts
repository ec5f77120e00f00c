/**
 * The command line as a newcomer meets it: configuration mistakes end the process at once with a
 * message that says what to change; every subcommand has help with examples; an unknown option
 * names itself and the valid ones; a busy port is one clear line and a non-zero exit, with nothing
 * left running; exit codes tell usage from a server that could not be reached.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { COMMANDS } from '@studioline/cli';
import { runCli } from './helpers/processes.js';

const homes: string[] = [];
const home = () => {
  const dir = mkdtempSync(join(tmpdir(), 'sl-cli-config-'));
  homes.push(dir);
  return dir;
};
after(() => {
  for (const dir of homes) rmSync(dir, { recursive: true, force: true });
});

describe('configuration errors', () => {
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    ['one role without Redis', ['serve', '--role', 'gateway'], {}, /--role gateway runs one service of a deployment and needs REDIS_URL/],
    ['an unknown role', ['serve', '--role', 'router'], {}, /--role must be one of gateway, relay, keys-admin, got "router"/],
    ['a Cluster prefix without a hash tag', ['serve', '--role', 'relay'], { REDIS_CLUSTER_NODES: '127.0.0.1:1', REDIS_PREFIX: 'studioline:' }, /on a Redis Cluster the key prefix needs a hash tag, e\.g\. "\{studioline\}:".*REDIS_PREFIX/],
    ['a negative number of replicas to wait for', ['serve', '--role', 'relay'], { REDIS_URL: 'redis://127.0.0.1:1', REDIS_WRITE_REPLICAS: '-1' }, /REDIS_WRITE_REPLICAS must be between 0 and 16, got -1/],
    ['a budget below one full-rate stream', ['serve', '--port', '0'], { BUDGET_BPS: '1000000', ADMIN_PORT: '0' }, /BUDGET_BPS 1000000 is below 3300000/],
    ['a port that is not a number', ['serve', '--port', 'eighty'], {}, /--port must be a port number \(0-65535\), got "eighty"/],
    ['a short admin token', ['serve', '--port', '0'], { ADMIN_TOKEN: 'short', ADMIN_PORT: '0' }, /ADMIN_TOKEN must be at least 16 characters/],
    ['an APIKEY that is not a key', ['serve', '--port', '0'], { APIKEY: 'secret', ADMIN_PORT: '0' }, /APIKEY "secr…" is not usable: it is 6 characters long/],
    ['an unknown command', ['dance'], {}, /unknown command "dance"; commands: serve, link, peer, selftest, certify, keys, sip, keygen/],
    ['an unknown option, naming the valid ones', ['peer', 'http://x/#apikey=k', '--volume', '3'], {}, /unknown option --volume for "studioline peer"; valid options: --tone, --wav, --seconds, --record, --mix, --json, --no-wait, --talk, --listen, --name, --colour, --exclude, --promote, --help/],
    ['an option without its value', ['link', '--apikey'], {}, /--apikey needs a value \(--apikey KEY\)/],
    ['a missing argument', ['peer'], {}, /"studioline peer" needs LINK/],
    ['an extra argument', ['link', 'http://127.0.0.1:7777', 'extra'], {}, /unexpected argument "extra"/],
    ['a string that is not an API key in a link', ['link', '--apikey', 'hello'], {}, /--apikey is not an API key: it is 5 characters long/],
    ['an API key with characters a link would mangle', ['link', '--apikey', 'abcdefghijklmnop&leaf_x'], {}, /--apikey is not an API key: it holds characters other than/],
  ];
  for (const [what, args, env, message] of cases) {
    it(`refuses ${what} with exit 2`, async () => {
      const result = await runCli(args, { STUDIOLINE_HOME: home(), ...env }, 20_000);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    });
  }
});

describe('help', () => {
  it('lists every subcommand and the exit codes', async () => {
    const result = await runCli(['--help']);
    assert.equal(result.code, 0);
    for (const c of COMMANDS) assert.match(result.stdout, new RegExp(`^  ${c.name}\\s+\\S`, 'm'));
    assert.match(result.stdout, /Exit codes:\n  0 .*\n  1 .*\n  2 .*\n  3 .*\n  4 .*\n  5 /);
  });

  for (const c of COMMANDS) {
    it(`studioline ${c.name} --help shows its options and examples`, async () => {
      const result = await runCli([c.name, '--help']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^Usage: studioline ${c.name}`));
      for (const o of Object.keys(c.options)) assert.match(result.stdout, new RegExp(`^  --${o}\\b`, 'm'));
      assert.match(result.stdout, /\nExamples:\n  \S/);
      assert.equal((await runCli(['help', c.name])).stdout, result.stdout, '`studioline help NAME` says the same');
    });
  }
});

describe('listening', () => {
  it('a busy port: one line naming the port and the setting, exit 2, and the process ends by itself', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as AddressInfo).port;
    try {
      // runCli fails the test if the process does not end: nothing may stay half-started.
      const gateway = await runCli(['serve', '--port', String(port)], { STUDIOLINE_HOME: home(), ADMIN_PORT: '0', LOG_LEVEL: 'silent' }, 20_000);
      assert.equal(gateway.code, 2);
      assert.equal(gateway.stderr.trim(), `studioline serve: the gateway cannot listen on 127.0.0.1:${port}: the port is already in use (another Studioline?). Stop that process, or set PORT (or --port) to another port`);
      const admin = await runCli(['serve', '--port', '0'], { STUDIOLINE_HOME: home(), ADMIN_PORT: String(port), LOG_LEVEL: 'silent' }, 20_000);
      assert.equal(admin.code, 2);
      assert.match(admin.stderr, new RegExp(`the keys admin API cannot listen on 127\\.0\\.0\\.1:${port}: .* set ADMIN_PORT to another port`));
    } finally {
      taken.close();
    }
  });

  it('an address that is not this machine\'s: which variable to change', async () => {
    const result = await runCli(['serve', '--port', '0', '--host', '192.0.2.1'], { STUDIOLINE_HOME: home(), ADMIN_PORT: '0', LOG_LEVEL: 'silent' }, 20_000);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /cannot listen on 192\.0\.2\.1:0: 192\.0\.2\.1 is not an address of this machine\. Set HOST/);
  });
});

describe('exit codes', () => {
  it('a server that cannot be reached is 4, not 2', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const result = await runCli(['peer', `http://127.0.0.1:${port}/#apikey=${'a'.repeat(72)}&leaf_${'A'.repeat(43)}`, '--seconds', '1'], { STUDIOLINE_HOME: home() }, 20_000);
    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stderr, /cannot connect to ws:\/\/127\.0\.0\.1:\d+\/ws/);
  });
});
