/**
 * The certificate's judgement on measurements made up for the purpose (no network, no clock): each
 * threshold breaks on what it guards and names it, and merged shards are judged like one run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMPACT_BUDGET_BPS } from '@studioline/protocol';
import { Measurements, finalize, merge } from '../src/certify/certificate.js';
import { LatencyHistogram } from '../src/certify/histogram.js';
import { PeerResult } from '../src/certify/results.js';

function peer(id: string, line: number, over: Partial<PeerResult> = {}): PeerResult {
  return {
    id, role: 'normal', layer: 'full', shard: 0, line, joined: true, joinMs: 40, sent: 1000, expected: 1000, received: 1000, lost: 0, late: 0, reordered: 0,
    decryptFailed: 0, replayed: 0, malformed: 0, reconnects: 0, unsent: 0, upBps: 3_225_000, downBps: 3_225_000,
    latencyMs: { p50: 1, p95: 2, p99: 3, max: 4 }, warnings: {},
    audio: { expectedHz: [440], heardHz: 440, expectedDb: -9, heardDb: -9, ok: true },
    ...over,
  };
}

function run(peers: PeerResult[], over: Partial<Measurements> = {}): Measurements {
  const h = new LatencyHistogram();
  for (let i = 0; i < 1000; i++) h.add(1 + (i % 10) / 10);
  return {
    run: { target: 'http://x', startedAt: '2026-01-01T00:00:00.000Z', endedAt: '2026-01-01T00:00:20.000Z', peers: peers.length, linesOf: 2, durationSeconds: 20, rampUpSeconds: 3, holdSeconds: 14, rampDownSeconds: 3, shards: 1, overBudgetBps: 0 },
    limits: { budgetBps: 7_000_000, maxLoss: 0.001, maxP99Ms: 50, lateMs: 50, maxJoinMs: 2000 },
    shardsIncluded: [0],
    peers,
    latency: { counts: h.toSparse(), max: h.max },
    loss: { startEpochSecond: 1_700_000_000, expected: [1000, 1000], received: [1000, 1000] },
    certifier: [{ shard: 0, worker: 0, peers: peers.length, cpuSeconds: 2, wallSeconds: 20, eventLoopP99Ms: 3, maxRssMb: 100 }],
    machineCores: [2],
    scrapes: { before: [], after: [] },
    ...over,
  };
}

const healthy = () => [peer('L0.0', 0), peer('L0.1', 0)];

describe('certificate verdict', () => {
  it('passes a healthy run', () => {
    const cert = finalize(run(healthy()));
    assert.equal(cert.passed, true, JSON.stringify(cert.thresholds.filter((t) => !t.ok)));
    assert.equal(cert.summary.deliveredShare, 1);
    assert.equal(cert.summary.latencyMs.p50 !== null && cert.summary.latencyMs.p50 < 2, true);
  });

  const cases: [string, () => Measurements, RegExp][] = [
    ['loss', () => run([peer('L0.0', 0, { received: 990, lost: 10 }), peer('L0.1', 0)]), /0\.500 % \(10 of 2000\); worst L0\.0: 10 lost/],
    ['budget', () => run([peer('L0.0', 0, { upBps: 7_500_000 }), peer('L0.1', 0)]), /highest 7\.50 Mbit\/s \(L0\.0\)/],
    ['decryption', () => run([peer('L0.0', 0, { decryptFailed: 3 }), peer('L0.1', 0)]), /3 failed/],
    ['audio', () => run([peer('L0.0', 0, { audio: { expectedHz: [440], heardHz: 880, expectedDb: -9, heardDb: -9, ok: false } }), peer('L0.1', 0)]), /L0\.0 heard 880 Hz/],
    ['joined', () => run([peer('L0.0', 0, { joined: false, error: 'the API key was revoked' }), peer('L0.1', 0)]), /L0\.0: the API key was revoked/],
    ['join time', () => run([peer('L0.0', 0, { joinMs: 5000 }), peer('L0.1', 0, { joinMs: 5000 })]), /p95 5000 ms/],
    ['certifier kept up', () => run([peer('L0.0', 0, { unsent: 100, overran: true, error: 'overran' }), peer('L0.1', 0)]), /100 of 2100 not sent \(1 peers stopped/],
    ['shards', () => run(healthy(), { run: { ...run([]).run, shards: 3 } }), /1 reported \(0\)/],
  ];
  for (const [name, make, measured] of cases) {
    it(`breaks "${name}" and names it`, () => {
      const cert = finalize(make());
      assert.deepEqual(cert.broken, [name]);
      assert.match(cert.thresholds.find((t) => t.name === name)!.measured, measured);
    });
  }

  it('allows one budget window over a short run (a sender at the limit passes its run and a window), and no more', () => {
    // A 20 s run: 1 s of 20 is 5 %.
    assert.deepEqual(finalize(run([peer('L0.0', 0, { upBps: 7_340_000 }), peer('L0.1', 0)])).broken, []);
    assert.deepEqual(finalize(run([peer('L0.0', 0, { upBps: 7_380_000 }), peer('L0.1', 0)])).broken, ['budget']);
  });

  describe('a mobile line: its peers are held to their own layer\'s budget', () => {
    // A full-rate peer (full and compact layers up) and a mobile one (compact only) on line -2.
    const mobileLine = (mobile: Partial<PeerResult> = {}) => [
      peer('mobile0.full', -2, { role: 'mobile-partner', upBps: 3_300_000, downBps: 71_000, expected: 1000, received: 1000, compactReceived: 1000 }),
      peer('mobile0.mobile', -2, { role: 'mobile', layer: 'compact', upBps: 71_000, downBps: 71_000, expected: 1000, received: 1000, compactReceived: 1000, ...mobile }),
    ];
    const withMobile = (mobile?: Partial<PeerResult>) => run([...healthy(), ...mobileLine(mobile)], { run: { ...run([]).run, mobileLines: 1 } });

    it('passes, reporting each layer\'s budget and each peer\'s own', () => {
      const cert = finalize(withMobile());
      assert.equal(cert.passed, true, JSON.stringify(cert.thresholds.filter((t) => !t.ok)));
      assert.deepEqual(cert.budgets.map((b) => [b.layer, b.per, b.budgetBps, b.peers]), [['full', 'peer', 7_000_000, 3], ['compact', 'speaker', COMPACT_BUDGET_BPS, 1]]);
      assert.equal(cert.peers.find((p) => p.id === 'mobile0.mobile')?.budgetBps, COMPACT_BUDGET_BPS, 'one speaker heard on a 1:1 line');
      assert.equal(cert.peers.find((p) => p.id === 'mobile0.full')?.budgetBps, 7_000_000);
      assert.match(cert.thresholds.find((t) => t.name === 'budget')!.measured, /full: highest 3\.30 Mbit\/s \(mobile0\.full\) of 7\.00 Mbit\/s; compact: highest 71\.0 kbit\/s \(mobile0\.mobile\) of 130\.0 kbit\/s/);
      assert.match(cert.thresholds.find((t) => t.name === 'mobile held to its layer')!.measured, /mobile0\.mobile: 71\.0 kbit\/s down of 130\.0 kbit\/s, heard 1000 of 1000 compact frames, 0 full-rate/);
    });

    const broken: [string, Partial<PeerResult>, string[]][] = [
      // 0.5 Mbit/s to a mobile receiver is far under the full layer's budget, and far over its own.
      ['over the compact budget', { downBps: 500_000 }, ['budget', 'mobile held to its layer']],
      ['sent full-rate frames', { received: 1010, compactReceived: 1000 }, ['mobile held to its layer']],
      ['heard (almost) nothing: no proof', { received: 10, compactReceived: 10, downBps: 700 }, ['mobile held to its layer']],
    ];
    for (const [what, over, names] of broken) {
      it(`breaks when the mobile receiver ${what}`, () => assert.deepEqual(finalize(withMobile(over)).broken, names));
    }

    it('a run that asked for a mobile line and has none breaks', () => {
      assert.deepEqual(finalize(run(healthy(), { run: { ...run([]).run, mobileLines: 1 } })).broken, ['mobile held to its layer']);
    });
  });

  it('latency above the limit breaks "latency"', () => {
    const h = new LatencyHistogram();
    for (let i = 0; i < 1000; i++) h.add(i < 980 ? 5 : 120);
    const cert = finalize(run(healthy(), { latency: { counts: h.toSparse(), max: h.max } }));
    assert.deepEqual(cert.broken, ['latency']);
  });

  it('merges shards: counts add, the latency histogram adds, missing shards break "shards"', () => {
    const shard = (i: number) => run([peer(`L${i}.0`, i, { shard: i }), peer(`L${i}.1`, i, { shard: i })], { run: { ...run([]).run, shards: 3 }, shardsIncluded: [i] });
    const two = merge([shard(0), shard(2)]);
    assert.deepEqual(two.shardsIncluded, [0, 2]);
    assert.deepEqual(two.broken, ['shards']);
    const all = merge([shard(0), shard(1), shard(2)]);
    assert.equal(all.passed, true);
    assert.equal(all.summary.framesExpected, 6000);
    assert.equal(all.latency.counts.reduce((n, [, c]) => n + c, 0), 3000);
    assert.deepEqual(all.loss.expected, [3000, 3000]);
    assert.throws(() => merge([shard(0), shard(0)]), /shard 0 appears twice/);
    assert.throws(() => merge([shard(0), run(healthy(), { run: { ...run([]).run, linesOf: 3, shards: 3 }, shardsIncluded: [1] })]), /different runs: linesOf/);
  });
});
