/**
 * Membership changes (issue 14, item 3) with Node peers on a real gateway: an excluded member
 * cannot follow, a late joiner cannot go back, honest members hear each other across a rekey, and
 * membership messages from anybody without the authority (a member, the server) change nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { NodePeer, PeerSummary, createHostedLink } from '@studioline/client';
import { CallLink, MOBILE_SAMPLE_RATE, deriveLineId, encodeJoin, randomSenderId, wireControlSender } from '@studioline/protocol';
import { Embedded, startEmbedded } from './helpers/embedded.js';
import { member, openWithAll, tap, until } from './helpers/membership.js';

interface Heard {
  sender: bigint;
  ctr: bigint;
  at: number;
}

/** A bare websocket on a line (as an excluded member that stays would be): every binary message, and who is on the line. */
async function listenOn(link: CallLink): Promise<{ frames: Uint8Array[]; peers: Set<string>; close(): void }> {
  const ws = new WebSocket(link.websocketUrl, { perMessageDeflate: false });
  const frames: Uint8Array[] = [];
  const peers = new Set<string>();
  ws.on('message', (data, binary) => {
    if (binary) return void frames.push(new Uint8Array(data as Buffer).slice());
    const msg = JSON.parse(data.toString());
    if (msg.type === 'joined') for (const p of msg.peers) peers.add(p);
    if (msg.type === 'peer_joined') peers.add(msg.sender);
    if (msg.type === 'peer_left') peers.delete(msg.sender);
  });
  await new Promise((resolve, reject) => ws.on('open', resolve).on('error', reject));
  ws.send(encodeJoin(link.apiKey, await deriveLineId(link.leafBytes!), randomSenderId(), MOBILE_SAMPLE_RATE, { capacity: link.capacity }));
  await until(() => frames.length > 0 || peers.size > 0, 10_000, 'the listener to join');
  return { frames, peers, close: () => ws.close() };
}

/** Largest spacing between consecutive arrivals, split into those that span `from..to` and the others. */
function gaps(ats: number[], from: number, to: number): { across: number; elsewhere: number } {
  let across = 0;
  let elsewhere = 0;
  for (let i = 1; i < ats.length; i++) {
    const gap = ats[i] - ats[i - 1];
    if (ats[i] >= from && ats[i - 1] <= to) across = Math.max(across, gap);
    else elsewhere = Math.max(elsewhere, gap);
  }
  return { across, elsewhere };
}

describe('membership', () => {
  let server: Embedded;
  before(async () => {
    server = await startEmbedded({ lineCapacity: 6 }, { maxSpeakers: 5 });
  });
  after(() => server?.stop());

  it('an excluded member that keeps every key, stays on the old line and is handed the new line opens nothing sent after its exclusion; the others hear each other across the move', async (t) => {
    const hosted = await createHostedLink(server.url, server.apiKey, { peers: 6 });
    const names = ['host', 'ann', 'bob', 'spy'];
    const taps = names.map(() => tap());
    const sent = names.map(() => new Map<string, number>());
    const heard = names.map((): Heard[] => []);
    const rekeyed: { who: number; senderId: bigint; fromCtr: bigint; epoch: number }[] = [];
    const peers: NodePeer[] = [];
    for (const [i, name] of names.entries()) {
      const { peer } = await member(hosted.link, name, 300 + 200 * i, 6, {
        ...(i === 0 ? { signing: hosted.signing } : {}),
        socket: taps[i].factory,
        onSent: (s, ctr, at) => sent[i].set(`${s}:${ctr}`, at),
        onAudio: (sender, ctr, at) => heard[i].push({ sender, ctr, at }),
        onRekeyed: (senderId, layer, fromCtr) => layer === 0 && rekeyed.push({ who: i, senderId, fromCtr, epoch: peers[i].membership!.epoch }),
      });
      peers.push(peer);
    }
    const [host, ann, bob, spy] = peers;
    // The spy keeps every epoch secret it is ever given (an honest peer drops the old ones).
    const spySecrets: Uint8Array[] = [hosted.link.leafBytes!];
    const keep = () => spySecrets.push(spy.membership!.secret()!.slice());
    spy.membership!.on('admitted', keep);
    spy.membership!.on('epoch', keep);
    // The first move of each (a member that finishes first says BYE, and the host rekeys again then).
    const moved = peers.map((p) => new Promise<string>((resolve) => p.membership!.on('moved', ({ text }) => resolve(text))));
    const runs = peers.map((p) => p.run());
    const spyRun = runs[3].then(
      () => assert.fail('the excluded member’s call should end'),
      (err: { code?: string }) => err.code,
    );
    await until(() => peers.every((p) => p.membership!.isAdmitted) && host.membership!.roster.list().filter((e) => e.admitted).length === 4, 15_000, 'every member admitted');
    const stayer = await listenOn(hosted.link);
    await until(() => heard.every((h) => h.length > 100), 10_000, 'audio everywhere');

    const excludedAt = performance.now();
    const newLinkText = await host.membership!.exclude('spy');
    const rekeyEpoch = host.membership!.epoch;
    t.diagnostic(`excluded the spy at epoch ${rekeyEpoch}`);
    const summaries: PeerSummary[] = await Promise.all(runs.slice(0, 3));
    assert.equal(await spyRun, 'excluded', 'the excluded member was told and its call ended');
    stayer.close();

    // Everyone who stayed is on the new line, the one the host printed.
    for (const i of [0, 1, 2]) assert.equal(await moved[i], newLinkText, `${names[i]} moved to the link the host printed`);
    assert.notEqual(newLinkText, hosted.text);
    assert.equal(stayer.peers.size, 0, 'the old link leads to an empty line');

    // What the spy could hold: every frame it got, the old line after it (the stayer), and the new line as a malicious relay would hand it.
    const handed = [...taps[3].sockets.flat(), ...stayer.frames, ...taps.slice(0, 3).flatMap((tp) => tp.sockets.slice(1).flat())].filter((f) => wireControlSender(f) < 0);
    const opened = await openWithAll(handed, spySecrets);
    const switchedAt = new Map(rekeyed.filter((r) => r.epoch === rekeyEpoch && r.who < 3).map((r) => [r.senderId, r.fromCtr]));
    const spySenders = new Set([...sent[3].keys()].map((k) => BigInt(k.split(':')[0])));
    const honest = opened.filter((o) => !spySenders.has(o.senderId));
    const after = honest.filter((o) => !switchedAt.has(o.senderId) || o.ctr >= switchedAt.get(o.senderId)!);
    const onNewLine = taps.slice(0, 3).reduce((n, tp) => n + tp.sockets.slice(1).flat().filter((f) => wireControlSender(f) < 0).length, 0);
    t.diagnostic(`the spy tried ${spySecrets.length} keys on ${handed.length} frames (${onNewLine} of the new line): opened ${honest.length} of honest members, all sent before each sender switched key; after: ${after.length}`);
    assert.ok(honest.length > 100, 'the spy really was a member before (it opened what was said then)');
    assert.equal(switchedAt.size, 3, 'every remaining member switched its key at the rekey');
    assert.equal(after.length, 0, 'nothing sent after the exclusion opens with any key the spy had');

    // Honest members heard each other across the move: no frame missing, no long silence.
    for (const r of [0, 1, 2]) {
      for (const s of [0, 1, 2]) {
        if (r === s) continue;
        const mine = heard[r].filter((h) => sent[s].has(`${h.sender}:${h.ctr}`));
        const sentAts = mine.map((h) => sent[s].get(`${h.sender}:${h.ctr}`)!);
        const [first, last] = [Math.min(...sentAts), Math.max(...sentAts)];
        const expected = [...sent[s].values()].filter((at) => at >= first && at <= last).length;
        const g = gaps(mine.map((h) => h.at).sort((a, b) => a - b), excludedAt, excludedAt + 3000);
        if (process.env.MEMBERSHIP_DEBUG) {
          const ats = mine.map((h) => ({ at: h.at, sentAt: sent[s].get(`${h.sender}:${h.ctr}`)!, sender: h.sender })).sort((a, b) => a.at - b.at);
          for (let i = 1; i < ats.length; i++) if (ats[i].at - ats[i - 1].at > 40) t.diagnostic(`  gap ${(ats[i].at - ats[i - 1].at).toFixed(1)} ms at +${(ats[i - 1].at - excludedAt).toFixed(1)} ms; sent gap ${(ats[i].sentAt - ats[i - 1].sentAt).toFixed(1)} ms; same sender ${ats[i].sender === ats[i - 1].sender}`);
        }
        t.diagnostic(`${names[r]} heard ${names[s]}: ${mine.length} of ${expected} frames sent meanwhile; longest gap across the rekey ${g.across.toFixed(1)} ms (elsewhere ${g.elsewhere.toFixed(1)} ms)`);
        if (process.env.MEMBERSHIP_DEBUG) continue;
        assert.equal(mine.length, expected, `${names[r]} missed none of ${names[s]}’s frames across the rekey`);
        assert.ok(g.across <= Math.max(100, g.elsewhere + 20), `${names[r]} heard ${names[s]} with no gap over 100 ms across the rekey (${g.across.toFixed(1)} ms)`);
      }
    }
    for (const s of summaries) assert.ok(s.membership!.rekeys >= 1);
  });
});
