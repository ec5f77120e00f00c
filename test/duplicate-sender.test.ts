/**
 * Issue 11 item 5 across gateways: a sender id already used by a peer of the line is refused even
 * when that peer is on another gateway (the relay that owns the line sees every member), on the
 * embedded backend and on a real Redis. The sender id is half of the SFrame nonce domain: two peers
 * sending with one id under one leaf would reuse nonces.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { STUDIO_SAMPLE_RATE, deriveLineId, encodeJoin, senderIdToText } from '@studioline/protocol';
import WebSocket from 'ws';
import { metricValue } from './helpers/embedded.js';
import { newLink, rawJoin, waitFor } from './helpers/peers.js';
import { redisForFile } from './helpers/redis.js';
import { BackendKind, TwoGateways, startTwoGateways } from './helpers/two-gateways.js';

/** Opens /ws at `url`, sends this join text; resolves 'joined', or the close code if closed first. */
function joinWith(url: string, apiKey: string, text: string): { ws: WebSocket; outcome: Promise<'joined' | number> } {
  const ws = new WebSocket(newLink(url, apiKey).websocketUrl, { perMessageDeflate: false });
  ws.on('open', () => ws.send(text));
  const outcome = new Promise<'joined' | number>((resolve) => {
    ws.on('message', (data, isBinary) => !isBinary && JSON.parse(data.toString()).type === 'joined' && resolve('joined'));
    ws.on('close', (code) => resolve(code));
  });
  return { ws, outcome };
}

function suite(name: string, kind: () => BackendKind, skip?: string) {
  describe(`duplicate sender ids across 2 gateways (${name})`, { skip, timeout: 60_000 }, () => {
    let deployment: TwoGateways;
    before(async () => {
      deployment = await startTwoGateways(kind());
    });
    after(async () => deployment?.stop());

    it('a sender id used by a peer on the other gateway is refused with 4400; the first peer stays', async () => {
      const { urls, apiKey } = deployment;
      const first = await rawJoin(newLink(urls[0], apiKey));
      await waitFor(() => first.messages.some((m) => m.type === 'joined'), 5000, 'first joined');
      const same = joinWith(urls[1], apiKey, encodeJoin(apiKey, first.line, first.sender, STUDIO_SAMPLE_RATE));
      assert.equal(await same.outcome, 4400);
      // The same id written with a leading zero is the same id.
      const padded = JSON.stringify({ ...JSON.parse(encodeJoin(apiKey, first.line, first.sender, STUDIO_SAMPLE_RATE)), sender: '0' + senderIdToText(first.sender) });
      assert.equal(await joinWith(urls[1], apiKey, padded).outcome, 4400);
      const relayRefusals = metricValue(await deployment.metrics(1), 'studioline_gateway_refusals_total', { code: 'bad_request' });
      assert.equal(relayRefusals, 2, 'counted as refusals by the gateway that refused them');
      assert.equal(first.ws.readyState, first.ws.OPEN, 'the first peer is still in its call');
      assert.ok(!first.messages.some((m) => m.type === 'peer_joined'), 'and was never told of an impostor');
      first.ws.close();
    });

    it('two joins racing with one sender id on the two gateways: exactly one gets in', async () => {
      const { urls, apiKey } = deployment;
      for (let round = 0; round < 5; round++) {
        const line = await deriveLineId(newLink(urls[0], apiKey).leafBytes!);
        const racers = [0, 1].map((i) => joinWith(urls[i], apiKey, encodeJoin(apiKey, line, 0x5e0000n + BigInt(round), STUDIO_SAMPLE_RATE)));
        const outcomes = await Promise.all(racers.map((r) => r.outcome));
        for (const r of racers) r.ws.close();
        assert.deepEqual(outcomes.map(String).sort(), ['4400', 'joined'], `round ${round}`);
      }
    });
  });
}

suite('embedded backend', () => 'memory');

const redis = redisForFile();
suite('Redis', () => ({ redisUrl: redis.get().url, prefix: redis.get().prefix() }), redis.skip);
