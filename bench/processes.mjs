// Starting the processes a benchmark measures: one place for the spawn, the readiness wait and
// the failure message, shared by bench/run.mjs and bench/latency.mjs.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * The Node flags that the image, `npm start` and the bin give Studioline (see BENCHMARKS.md: the
 * garbage collections they avoid); every server process a benchmark starts runs with them (the
 * bare relay too, so that the baseline is run alike; they change nothing there).
 */
export const SERVER_FLAGS = ['--initial-old-space-size=128', '--no-memory-reducer'];

/**
 * Starts `node ARGS` and resolves with { child, value } once `ready(output so far)` returns a value
 * (e.g. the port the process printed); rejects when it exits first or is not ready within 20 s.
 */
export function startNode(args, env, ready, { logLevel = 'warn' } = {}) {
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH, LOG_LEVEL: logLevel, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start:\n${text.slice(-2000)}`)), 20_000);
    const check = (c) => {
      text += c;
      const m = ready(text);
      if (m) {
        clearTimeout(timer);
        resolve({ child, value: m });
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited with ${code}:\n${text.slice(-2000)}`));
    });
  });
}

/** CPU seconds and RSS bytes of some processes, from /proc. */
export function usage(pids) {
  let cpu = 0;
  let rss = 0;
  const tick = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      cpu += (Number(stat[11]) + Number(stat[12])) / tick;
      rss += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
    } catch {
      /* gone */
    }
  }
  return { cpu, rss };
}
