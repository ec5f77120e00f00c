/**
 * Issue 11 item 7: the soak. Two steady 1:1 calls (four Node peers at full rate) through the
 * embedded server run as its own process (`studioline serve`), for SOAK_MINUTES (default 10).
 * After a warm-up, the server's resident memory, V8 heap and open file descriptors stay flat, and
 * every frame a peer sends is heard by the other (0 lost); once the calls end, the server is back
 * to its idle file descriptors.
 *
 * The bounds are far below what a leak on the audio path makes: 8 bytes kept per frame is 16 MB
 * over a 10-minute soak (4 peers x 100 frames/s x 2 hops), and a socket not closed is a
 * descriptor per call. Samples every 5 s; a run's figures go to the test's diagnostics.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PeerSummary } from '@studioline/client';
import { generateApiKey } from '@studioline/server-kit';
import { metricValue } from './helpers/embedded.js';
import { newLink, tonePeer } from './helpers/peers.js';
import { ServiceProcess, startProcess } from './helpers/processes.js';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
assert.ok(MINUTES >= 1 && MINUTES <= 240, `SOAK_MINUTES must be 1-240, got ${process.env.SOAK_MINUTES}`);
const SECONDS = Math.round(MINUTES * 60);
/** The first fifth of the run (at least 30 s) settles: JIT, buffers, socket pools, GC heuristics. */
const WARM_UP_S = Math.max(30, SECONDS / 5);
const SAMPLE_MS = 5000;
/** Growth allowed from the end of the warm-up to the end: RSS moves with GC and allocator pages. */
const MAX_RSS_GROWTH_MB = 24;
/** The heap's floor (its lowest sample in a window: what survives GC) may rise this much. */
const MAX_HEAP_GROWTH_MB = 8;
const MAX_FD_GROWTH = 2;

interface Sample {
  at: number;
  rssMb: number;
  heapMb: number;
  fds: number;
}

describe(`soak: two steady calls for ${MINUTES} min (SOAK_MINUTES)`, { timeout: (SECONDS + 180) * 1000 }, () => {
  let server: ServiceProcess & { url: string };
  let home: string;
  const apiKey = generateApiKey();

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'studioline-soak-'));
    const p = startProcess(['serve', '--port', '0'], { APIKEY: apiKey, ADMIN_PORT: '0', METRICS_PORT: '0', STUDIOLINE_HOME: home }, 'embedded server');
    const listening = await p.waitForLog((l) => l.msg === 'gateway listening');
    server = Object.assign(p, { url: listening.address as string });
  });

  after(async () => {
    await server?.kill('SIGKILL');
    if (home) rmSync(home, { recursive: true, force: true });
  });

  const sample = async (): Promise<Sample> => {
    const pid = server.child.pid!;
    const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    return { at: performance.now(), rssMb: rssKb / 1024, heapMb: metricValue(metrics, 'studioline_nodejs_heap_size_used_bytes') / 2 ** 20, fds: readdirSync(`/proc/${pid}/fd`).length };
  };

  it('memory and file descriptors stay flat, and every frame sent is heard', async (t) => {
    const idle = await sample();
    const lines = [newLink(server.url, apiKey), newLink(server.url, apiKey)];
    const start = performance.now();
    const peers: Promise<PeerSummary>[] = lines.flatMap((link, i) => [tonePeer(link, 440 + i, SECONDS, { record: false }).run(), tonePeer(link, 1000 + i, SECONDS, { record: false }).run()]);
    const samples: Sample[] = [];
    let done = false;
    const summaries = Promise.all(peers).finally(() => (done = true));
    while (!done) {
      samples.push(await sample());
      await Promise.race([summaries.catch(() => undefined), new Promise((r) => setTimeout(r, SAMPLE_MS))]);
    }
    const results = await summaries;
    // Let the server see the sockets close, then count what it holds idle again.
    await new Promise((r) => setTimeout(r, 1500));
    const end = await sample();

    const steady = samples.filter((s) => s.at - start >= WARM_UP_S * 1000 && s.at - start <= SECONDS * 1000);
    assert.ok(steady.length >= 4, `${steady.length} samples after the warm-up`);
    const quarter = Math.max(2, Math.floor(steady.length / 4));
    const first = steady.slice(0, quarter);
    const last = steady.slice(-quarter);
    const max = (xs: Sample[], k: 'rssMb' | 'fds') => Math.max(...xs.map((s) => s[k]));
    const floor = (xs: Sample[]) => Math.min(...xs.map((s) => s.heapMb));
    const figures = {
      rssMb: { idle: idle.rssMb, afterWarmUp: max(first, 'rssMb'), end: max(last, 'rssMb'), peak: max(samples, 'rssMb'), afterCalls: end.rssMb },
      heapFloorMb: { afterWarmUp: floor(first), end: floor(last) },
      fds: { idle: idle.fds, afterWarmUp: max(first, 'fds'), end: max(last, 'fds'), afterCalls: end.fds },
      frames: results.map((r) => ({ sent: r.sent, received: r.received, lost: r.lost, unsent: r.unsent, reconnects: r.reconnects })),
    };
    t.diagnostic(`soak ${MINUTES} min, ${samples.length} samples: ${JSON.stringify(figures, (_k, v) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toFixed(1)) : v))}`);

    // 0 lost: each peer heard every frame its partner sent, on an unbroken connection.
    for (const [i, r] of results.entries()) {
      const partner = results[i ^ 1];
      assert.equal(r.received, partner.sent, `peer ${i} heard ${r.received} of the ${partner.sent} frames its partner sent`);
      assert.deepEqual([r.lost, r.decryptFailed, r.reconnects], [0, 0, 0], `peer ${i}: lost, decrypt failures, reconnects`);
      // The call ran the whole time. (A sender whose own process falls 200 ms behind skips frames
      // rather than send them late, counted as unsent: on a busy 2-core machine a few percent.)
      assert.ok(r.sent >= SECONDS * 100 * 0.9, `peer ${i} sent ${r.sent} of ${SECONDS * 100} frames`);
    }
    const rssGrowth = figures.rssMb.end - figures.rssMb.afterWarmUp;
    const heapGrowth = figures.heapFloorMb.end - figures.heapFloorMb.afterWarmUp;
    assert.ok(rssGrowth <= MAX_RSS_GROWTH_MB, `RSS grew ${rssGrowth.toFixed(1)} MB after the warm-up (bound ${MAX_RSS_GROWTH_MB})`);
    assert.ok(heapGrowth <= MAX_HEAP_GROWTH_MB, `the heap's floor grew ${heapGrowth.toFixed(1)} MB after the warm-up (bound ${MAX_HEAP_GROWTH_MB})`);
    assert.ok(figures.fds.end - figures.fds.afterWarmUp <= MAX_FD_GROWTH, `open descriptors went from ${figures.fds.afterWarmUp} to ${figures.fds.end}`);
    assert.ok(end.fds <= idle.fds + MAX_FD_GROWTH, `after the calls the server holds ${end.fds} descriptors (idle: ${idle.fds})`);
  });
});
