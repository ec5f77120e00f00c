// Runs every compiled test file with node's test runner, one file at a time: the suites make
// real-time calls, and running them side by side on a 2-core machine would only add noise.
// `node scripts/run-tests.mjs protocol gateway` runs only the files whose path contains a word.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dirs = ['packages/protocol', 'packages/server-kit', 'packages/client', 'services/relay', 'services/gateway', 'services/keys-admin', 'services/sip-bridge', 'packages/cli']
  .map((d) => join(root, d, 'dist/test'))
  .concat(join(root, 'test/dist'), join(root, 'test/dist/cluster'));
const filters = process.argv.slice(2);
const files = dirs
  .filter(existsSync)
  .flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.test.js')).map((f) => join(d, f)))
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)));
if (files.length === 0) {
  console.error('no test files found: run `npm run build` first');
  process.exit(1);
}
// The soak (SOAK_MINUTES, default 10) runs last, alone like every file; the deadline, per file,
// is five minutes, or the soak's length plus five when it is in the run.
const soak = files.filter((f) => f.endsWith('/soak.test.js'));
const ordered = files.filter((f) => !soak.includes(f)).concat(soak);
const timeout = soak.length ? Math.max(300_000, (Number(process.env.SOAK_MINUTES ?? 10) + 5) * 60_000) : 300_000;
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', `--test-timeout=${timeout}`, ...ordered], { stdio: 'inherit' });
process.exit(result.status ?? 1);
