/**
 * Acceptance 5 of the foundation (all but revocation, which needs two gateways: see
 * redis-topology.test.ts): every refusal is clear, counted, and loses nothing for anyone else. A
 * bystander call runs on another line through all of it and must lose no frame.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FrameSealer, MAX_WIRE_FRAME_BYTES, STUDIO_SAMPLE_RATE, encodeAudioFrame, samplesPerFrame } from '@studioline/protocol';
import { PeerSummary } from '@studioline/client';
import { Embedded, metricValue, startEmbedded } from './helpers/embedded.js';
import { newLink, rawJoin, tonePeer, waitFor } from './helpers/peers.js';
import { runCli } from './helpers/processes.js';

describe('refusals', () => {
  let server: Embedded;
  let bystanders: Promise<[PeerSummary, PeerSummary]>;

  before(async () => {
    server = await startEmbedded();
    const line = newLink(server.url, server.apiKey);
    bystanders = Promise.all([tonePeer(line, 440, 12).run(), tonePeer(line, 1000, 12).run()]);
    await waitFor(async () => true, 10, 'start');
  });

  after(async () => {
    // The bystander call went on through every refusal, losing nothing.
    const [a, b] = await bystanders;
    assert.equal(a.received, b.sent);
    assert.equal(b.received, a.sent);
    assert.ok(a.sent >= 1190, `bystander sent ${a.sent}`);
    // Lost on the way: nothing (a listener misses only what its partner skipped, behind real time).
    for (const [s, other] of [[a, b], [b, a]]) {
      assert.ok(s.lost <= other.skippedLate, `lost ${s.lost}, skipped by the sender ${other.skippedLate}`);
      assert.deepEqual([s.decryptFailed, s.reconnects], [0, 0]);
    }
    await server.stop();
  });

  it('a wrong API key is refused with 4401 and words', async () => {
    const client = await rawJoin(newLink(server.url, server.apiKey), { apiKey: 'x'.repeat(72) });
    const closed = await client.closed;
    assert.equal(closed.code, 4401);
    assert.equal(closed.reason, 'unauthorized');
    assert.deepEqual(client.messages[0], { type: 'error', code: 'unauthorized', message: 'The API key is wrong, expired or unknown.' });
    assert.equal(metricValue(await server.metrics(), 'studioline_gateway_auth_failures_total', { reason: 'unknown' }), 1);
    assert.ok(!server.logs().includes('x'.repeat(72)), 'the offered key is not logged');
  });

  it('a malformed link is refused by the CLI with a clear message and exit code 2', async () => {
    const result = await runCli(['peer', `${server.url}/#apikey=${server.apiKey}&leaf_tooshort`, '--seconds', '1']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /leaf key in the link is malformed/);
    assert.ok(!result.stderr.includes(server.apiKey), 'the key is not echoed');
  });

  it('a page from another origin is refused at the upgrade with 403', async () => {
    await assert.rejects(rawJoin(newLink(server.url, server.apiKey), { origin: 'https://evil.example' }), /403/);
    assert.equal(metricValue(await server.metrics(), 'studioline_gateway_upgrades_refused_total', { reason: 'bad_origin' }), 1);
  });

  it('a direct client that forges Host to match its Origin is refused at the upgrade with 403, like any other origin', async () => {
    const { WebSocket } = await import('ws');
    const ws = new WebSocket(newLink(server.url, server.apiKey).websocketUrl, { headers: { Host: 'rebind.evil.example', Origin: 'http://rebind.evil.example' } });
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    ws.terminate();
    assert.equal(status, 403);
    assert.equal(metricValue(await server.metrics(), 'studioline_gateway_upgrades_refused_total', { reason: 'bad_origin' }), 2);
  });

  it('a third peer on a 1:1 line is refused with 4409 "line full"; the two stay', async () => {
    const link = newLink(server.url, server.apiKey);
    const first = await rawJoin(link);
    const second = await rawJoin(link);
    await waitFor(() => second.messages.find((m) => m.type === 'joined'), 2000, 'second joined');
    const third = await rawJoin(link);
    const closed = await third.closed;
    assert.equal(closed.code, 4409);
    assert.equal(third.messages[0]?.code, 'line_full');
    assert.match(String(third.messages[0]?.message), /line is full/);
    assert.equal(first.ws.readyState, first.ws.OPEN);
    assert.equal(second.ws.readyState, second.ws.OPEN);
    first.ws.close();
    second.ws.close();
  });

  it('an oversized message closes only its own socket, with 1009', async () => {
    const client = await rawJoin(newLink(server.url, server.apiKey));
    await waitFor(() => client.messages.find((m) => m.type === 'joined'), 2000, 'joined');
    client.ws.send(Buffer.alloc(MAX_WIRE_FRAME_BYTES + 1));
    assert.equal((await client.closed).code, 1009);
    await waitFor(async () => true, 10, '');
    assert.equal(metricValue(await server.metrics(), 'studioline_gateway_refusals_total', { code: 'message_too_big' }), 1);
  });

  it('garbage binary frames are dropped, counted and reported; the socket stays open', async () => {
    const client = await rawJoin(newLink(server.url, server.apiKey));
    await waitFor(() => client.messages.find((m) => m.type === 'joined'), 2000, 'joined');
    const before = metricValue(await server.metrics(), 'studioline_gateway_frame_drops_total', { reason: 'malformed' });
    for (const garbage of [Buffer.from([1, 2, 3]), Buffer.alloc(500, 0xff), Buffer.from('not audio at all, not at all')]) client.ws.send(garbage);
    await waitFor(() => client.messages.find((m) => m.code === 'malformed_frame'), 2000, 'malformed_frame warning');
    await waitFor(async () => true, 10, '');
    assert.equal(metricValue(await server.metrics(), 'studioline_gateway_frame_drops_total', { reason: 'malformed' }) - before, 3);
    assert.equal(client.ws.readyState, client.ws.OPEN);
    client.ws.close();
  });

  it('binary before join is refused with 4400', async () => {
    const { WebSocket } = await import('ws');
    const ws = new WebSocket(newLink(server.url, server.apiKey).websocketUrl);
    await new Promise((r) => ws.on('open', r));
    ws.send(Buffer.alloc(100));
    const code = await new Promise((r) => ws.on('close', r));
    assert.equal(code, 4400);
  });

  it('a sender over the 7 Mbit/s budget is throttled to it: excess dropped and counted, its partner unaffected', async () => {
    const link = newLink(server.url, server.apiKey);
    const partner = tonePeer(link, 1000, 4);
    const partnerRun = partner.run();
    const flooder = await rawJoin(link);
    await waitFor(() => flooder.messages.find((m) => m.type === 'joined'), 2000, 'flooder joined');
    const sealer = await FrameSealer.create(link.leafBytes!, flooder.sender);
    const pcm = new Int16Array(samplesPerFrame(STUDIO_SAMPLE_RATE)).fill(1000);
    const frame = encodeAudioFrame(STUDIO_SAMPLE_RATE, pcm);
    // 10 Mbit/s for 3 s: 0.125 MB every 100 ms.
    const metricsBefore = await server.metrics();
    let offered = 0;
    let offeredBytes = 0;
    const start = Date.now();
    let lastSendAt = start;
    while (Date.now() - start < 3000) {
      const tickStart = Date.now();
      while (offeredBytes < ((Date.now() - start + 100) / 1000) * 1_250_000) {
        const wire = await sealer.seal(30, frame);
        flooder.ws.send(wire);
        lastSendAt = Date.now();
        offered++;
        offeredBytes += wire.length;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - tickStart))));
    }
    const partnerSummary = await partnerRun;
    const m = await server.metrics();
    const delta = (name: string, labels: Record<string, string>) => metricValue(m, name, labels) - metricValue(metricsBefore, name, labels);
    const dropped = delta('studioline_gateway_budget_exceeded_total', { direction: 'in' });
    // Any frames the partner's own downlink budget trimmed at the edge of a burst, counted apart.
    const trimmedOut = delta('studioline_gateway_budget_exceeded_total', { direction: 'out' });
    assert.equal(delta('studioline_gateway_frame_drops_total', { reason: 'over_budget' }), dropped + trimmedOut);
    const accepted = offered - dropped;
    // The budget holds over any 1 s window (BUDGET_WINDOW_MS): in a flood of D seconds at most
    // D + 1 windows' worth passes (stall-budget.test.ts holds a 10 s flood to within 2 %).
    const seconds = (lastSendAt - start) / 1000 + 1;
    assert.ok(dropped > offered * 0.15, `excess dropped: ${dropped} of ${offered}`);
    assert.ok((accepted * (offeredBytes / offered) * 8) / seconds <= 7_000_000 * 1.02, 'what passed is within the budget');
    // The partner's downlink budget is the same window, but frames reach it bunched by the servers'
    // scheduling (tens of ms on a loaded 2-core machine), so a flood admitted at exactly the budget
    // can overfill one downlink window by what arrives in that jitter: allow 150 ms at the budget.
    const jitterAllowance = Math.ceil((7_000_000 / 8) * 0.15 / (offeredBytes / offered));
    assert.ok(trimmedOut <= jitterAllowance, `downlink trimmed ${trimmedOut} (allowance ${jitterAllowance})`);
    assert.ok(flooder.messages.some((msg) => msg.code === 'over_budget'), 'the flooder was told');
    // The partner heard what passed the budget, intact, and its own audio reached the flooder.
    assert.equal(partnerSummary.decryptFailed, 0);
    // Every frame that passed the sender's budget reached the partner (less any trimmed on the way out).
    assert.equal(partnerSummary.received, accepted - trimmedOut, `partner received ${partnerSummary.received} of ${accepted} accepted (${trimmedOut} trimmed)`);
    // The partner's last frames may still be on their way to the flooder when its run resolves.
    await waitFor(() => flooder.frames.count >= partnerSummary.sent, 2000, 'the flooder heard its partner').catch(() => undefined);
    assert.equal(flooder.frames.count, partnerSummary.sent, 'the flooder heard every frame of its partner');
    flooder.ws.close();
  });
});
