// What every load generator shares (load.mjs, load-shapes.mjs) and how the runners start one
// (run.mjs, shapes.mjs): the real-time pacing of the peers' frames, the warm-up marker, and the
// one JSON line of figures a generator prints at the end.
import { spawn } from 'node:child_process';

/** The line a generator prints when its warm-up ends: the runner starts measuring then. */
const WARM = '{"warm":true}\n';

/**
 * Sends on the real-time clock: every due frame of every peer, never more. Each peer has its own
 * phase within the 10 ms frame period, as independent callers do: sending all peers' frames on one
 * tick would measure the queueing of an artificial burst instead of the server. `send(i, n)` sends
 * peer i's frame n (it checks its own socket). After `warmup` seconds the warm marker is printed and
 * the CPU count restarts. Resolves, a second after the last frame (frames in flight), with the
 * seconds measured and the generator's CPU seconds since warm.
 */
export async function paceFrames({ peers, warmup, seconds, send }) {
  const start = performance.now();
  let cpuAtWarm = process.cpuUsage();
  const total = (warmup + seconds) * 100;
  let warm = false;
  const next = new Array(peers).fill(0);
  const phase = Array.from({ length: peers }, (_, i) => (i * 10) / peers);
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now() - start;
      let done = true;
      for (let i = 0; i < peers; i++) {
        for (; next[i] < total && next[i] * 10 + phase[i] <= now; next[i]++) send(i, next[i]);
        if (next[i] < total) done = false;
      }
      if (!warm && now >= warmup * 1000) {
        warm = true;
        cpuAtWarm = process.cpuUsage();
        process.stdout.write(WARM);
      }
      if (done) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await new Promise((r) => setTimeout(r, 1000)); // frames in flight
  const cpu = process.cpuUsage(cpuAtWarm);
  return { elapsed: (performance.now() - start) / 1000 - warmup, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

/**
 * Runs one generator process (`script` with `env`); calls `onWarm` when its warm-up ends and
 * resolves with the figures it printed.
 */
export function runGenerator(script, env, onWarm) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let warmed = Promise.resolve();
    child.stdout.on('data', (c) => {
      out += c;
      if (out.includes(WARM)) {
        out = out.replace(WARM, '');
        warmed = onWarm();
      }
    });
    child.stderr.on('data', (c) => (err += c));
    child.on('exit', async (code) => {
      await warmed;
      if (code === 0) resolve(JSON.parse(out));
      else reject(new Error(`load generator failed: ${err.slice(-500)}`));
    });
  });
}
