/** Configuration mistakes end the process at once with a message that says what to change. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from './helpers/processes.js';

describe('configuration errors', () => {
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    ['one role without Redis', ['serve', '--role', 'gateway'], {}, /--role gateway runs one service of a deployment and needs REDIS_URL/],
    ['an unknown role', ['serve', '--role', 'router'], {}, /--role must be one of gateway, relay, keys-admin/],
    ['a budget below one full-rate stream', ['serve', '--port', '0'], { BUDGET_BPS: '1000000', ADMIN_PORT: '0' }, /BUDGET_BPS 1000000 is below 3300000/],
    ['a port that is not a number', ['serve', '--port', 'eighty'], {}, /--port must be a port number/],
    ['a short admin token', ['serve', '--port', '0'], { ADMIN_TOKEN: 'short', ADMIN_PORT: '0' }, /ADMIN_TOKEN must be at least 16 characters/],
    ['an unknown command', ['dance'], {}, /unknown command "dance"/],
  ];
  for (const [what, args, env, message] of cases) {
    it(`refuses ${what}`, async () => {
      const result = await runCli(args, { STUDIOLINE_HOME: '/tmp/studioline-config-test', ...env }, 20_000);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
    });
  }
});
