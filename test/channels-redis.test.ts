/**
 * Issue 14 item 1 on the Redis topology: a channel socket on one gateway, its lines' other peers on
 * another, a relay between them, all on a real redis-server. It hears both lines and talks into
 * channel 2 only within its script; a key's peer limit counts each channel as a peer across both
 * gateways, and a channel left gives its seat back at once.
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ChannelCall, ChannelPeer, NodePeer, ReceivedFrame, dominantFrequency, toneSource } from '@studioline/client';
import { STUDIO_SAMPLE_RATE, formatCallLink, generateLeaf, parseCallLink } from '@studioline/protocol';
import { metricValue } from './helpers/embedded.js';
import { rawJoin, waitFor } from './helpers/peers.js';
import { requireRedisServer } from './helpers/redis-ha.js';
import { TwoGateways, startTwoGateways } from './helpers/two-gateways.js';

const skip = requireRedisServer();

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('channels over two gateways on a real Redis', { skip, timeout: 120_000 }, () => {
  let redis: ChildProcess;
  let deployment: TwoGateways;
  before(async () => {
    const port = await freePort();
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', mkdtempSync(join(tmpdir(), 'sl-channels-redis-'))], { stdio: 'ignore' });
    deployment = await startTwoGateways({ redisUrl: `redis://127.0.0.1:${port}`, prefix: `tch${Date.now()}:` });
  });
  after(async () => {
    await deployment?.stop();
    redis?.kill('SIGKILL');
  });
  const link = (gateway: 0 | 1, leaf: string, apiKey = deployment.apiKey) => parseCallLink(formatCallLink(deployment.urls[gateway], apiKey, leaf));

  it('hears both lines through the other gateway and talks into channel 2 only within its script', async () => {
    const [one, two] = [generateLeaf(), generateLeaf()];
    const heardByA: ReceivedFrame[] = [];
    const heardByB: ReceivedFrame[] = [];
    const a = new NodePeer({ link: link(1, one), source: toneSource(440, STUDIO_SAMPLE_RATE), seconds: 6, compact: true, sinks: [{ push: (f) => heardByA.push(f) }], peerTimeoutMs: 20_000 });
    const b = new NodePeer({ link: link(1, two), source: toneSource(1000, STUDIO_SAMPLE_RATE), seconds: 6, compact: true, sinks: [{ push: (f) => heardByB.push(f) }], peerTimeoutMs: 20_000 });
    const runs = [a.run(), b.run()];
    const x = new ChannelPeer({
      channels: [
        { name: 'one', link: link(0, one), talk: [] },
        { name: 'two', link: link(0, two), talk: [[0.5, 1.5]] },
      ],
      source: toneSource(660, STUDIO_SAMPLE_RATE),
      seconds: 2.5,
      record: true,
      peerTimeoutMs: 20_000,
    });
    const summary = await x.run();
    await Promise.all(runs);
    for (const [name, hz] of [['one', 440], ['two', 1000]] as const) {
      const track = summary.tracks!.find((t) => t.channel === name)!;
      assert.ok(Math.abs(dominantFrequency(track.samples, track.sampleRate) - hz) < 5, `channel ${name}: ${hz} Hz`);
    }
    assert.equal(heardByA.length, 0, 'line one heard nothing from x');
    const two2 = summary.channels[1];
    assert.deepEqual(heardByB.map((f) => Number(f.ctr)).filter((c) => c < 50 || c > 150 + summary.skippedLate), [], 'line two: only the span');
    assert.equal(heardByB.length, two2.sent, 'every frame sent into channel two arrived');
  });

  it("counts each channel as one of its key's peers across gateways, and gives a left channel's seat back", async () => {
    const { secret } = await deployment.keys.create({ name: 'two peers', limits: { maxPeers: 2 } }, 'test');
    let call: ChannelCall | undefined;
    const [p, q, r] = [generateLeaf(), generateLeaf(), generateLeaf()];
    const x = new ChannelPeer({
      channels: [
        { name: 'p', link: link(0, p, secret), mode: 'listen' },
        { name: 'q', link: link(0, q, secret), mode: 'listen' },
      ],
      source: toneSource(660, STUDIO_SAMPLE_RATE),
      seconds: 6,
      waitForPeer: false,
      onCall: (c) => (call = c),
    });
    const running = x.run();
    await waitFor(() => call?.channels.length === 2 && call.channels.every((c) => c.core.isJoined), 10_000, 'x on both channels');
    const refusedBefore = metricValue(await deployment.metrics(1), 'studioline_gateway_refusals_total', { code: 'key_peer_limit' });
    const third = await rawJoin(link(1, r, secret));
    const answer = await waitFor(() => third.messages.find((m) => m.type === 'joined' || m.type === 'error'), 10_000, 'the third join answered');
    assert.deepEqual([answer.type, answer.code, (await third.closed).code], ['error', 'key_peer_limit', 4429], 'two channels are two peers of the key');
    assert.equal(metricValue(await deployment.metrics(1), 'studioline_gateway_refusals_total', { code: 'key_peer_limit' }) - refusedBefore, 1);
    call!.remove('q');
    const again = await rawJoin(link(1, r, secret));
    const next = await waitFor(() => again.messages.find((m) => m.type === 'joined' || m.type === 'error'), 10_000, 'the join after the leave answered');
    assert.equal(next.type, 'joined', `the channel left gave its seat back: ${JSON.stringify(next)}`);
    again.ws.close();
    call!.stop();
    await running;
  });
});
