/**
 * Membership changes (issue 14, item 3) with Node peers on a real gateway: an excluded member
 * cannot follow, a late joiner cannot go back, honest members hear each other across a rekey, and
 * membership messages from anybody without the authority (a member, the server) change nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';
import { NodePeer, PeerSummary, createHostedLink } from '@studioline/client';
import { MOVE_LINGER_MS, MemberCall } from '@studioline/client';
import {
  CallLink,
  FrameSealer,
  CONTROL_KID_TAG,
  MOBILE_SAMPLE_RATE,
  concatBytes,
  decodeHeader,
  deriveLineId,
  encodeHeader,
  encodeJoin,
  encodeUnsigned,
  randomSenderId,
  sign,
  signatureInput,
  wireControlSender,
} from '@studioline/protocol';
import { Embedded, startEmbedded } from './helpers/embedded.js';
import { member, openWithAll, tap, until } from './helpers/membership.js';
import { newLink, rawJoin } from './helpers/peers.js';

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

/**
 * Largest spacing between consecutive arrivals, split into those that span `from..to` and the
 * others; for the largest across, when it began (ms after `from`) and how far apart the two frames
 * were sent (a sender that stalled, or a receiver).
 */
function gaps(frames: { at: number; sentAt: number }[], from: number, to: number): { across: number; elsewhere: number; startedAfter: number; sentApart: number } {
  const sorted = [...frames].sort((a, b) => a.at - b.at);
  const g = { across: 0, elsewhere: 0, startedAfter: 0, sentApart: 0 };
  for (let i = 1; i < sorted.length; i++) {
    const gap = sorted[i].at - sorted[i - 1].at;
    if (sorted[i].at >= from && sorted[i - 1].at <= to) {
      if (gap > g.across) Object.assign(g, { across: gap, startedAfter: sorted[i - 1].at - from, sentApart: sorted[i].sentAt - sorted[i - 1].sentAt });
    } else g.elsewhere = Math.max(g.elsewhere, gap);
  }
  return g;
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
      const { peer } = await member(hosted.link, name, 300 + 200 * i, 8, {
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

    // Every peer and the servers share this process: a stall of its event loop (a busy machine) delays every arrival.
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const excludedAt = performance.now();
    const newLinkText = await host.membership!.exclude('spy');
    setTimeout(() => loop.disable(), MOVE_LINGER_MS + 500).unref();
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
    const stallMs = loop.max / 1e6;
    t.diagnostic(`this process's event loop stalled up to ${stallMs.toFixed(1)} ms during the move`);
    for (const r of [0, 1, 2]) {
      for (const s of [0, 1, 2]) {
        if (r === s) continue;
        const mine = heard[r].filter((h) => sent[s].has(`${h.sender}:${h.ctr}`));
        const sentAts = mine.map((h) => sent[s].get(`${h.sender}:${h.ctr}`)!);
        const [first, last] = [Math.min(...sentAts), Math.max(...sentAts)];
        const expected = [...sent[s].values()].filter((at) => at >= first && at <= last).length;
        const g = gaps(mine.map((h) => ({ at: h.at, sentAt: sent[s].get(`${h.sender}:${h.ctr}`)! })), excludedAt, excludedAt + MOVE_LINGER_MS + 500);
        t.diagnostic(`${names[r]} heard ${names[s]}: ${mine.length} of ${expected} frames sent meanwhile; longest gap across the rekey ${g.across.toFixed(1)} ms from +${g.startedAfter.toFixed(0)} ms, the two frames sent ${g.sentApart.toFixed(1)} ms apart (elsewhere ${g.elsewhere.toFixed(1)} ms)`);
        assert.equal(mine.length, expected, `${names[r]} missed none of ${names[s]}’s frames across the rekey`);
        // The goal is 100 ms. All four peers and the servers share one process here, on a machine
        // that may be busy: a stall of that process delays every arrival, rekey or not. So the gap
        // may exceed 100 ms by no more than the process stalled meanwhile (measured), or be at most
        // twice the worst this call had elsewhere; what a move that failed would cause (a member
        // heard on neither line for MOVE_SWITCH_MS, or lost frames) is far beyond either.
        assert.ok(g.across <= Math.max(100 + stallMs, 2 * g.elsewhere), `${names[r]} heard ${names[s]} with no gap over 100 ms across the rekey (${g.across.toFixed(1)} ms; the process stalled ${stallMs.toFixed(1)} ms)`);
      }
    }
    for (const s of summaries) assert.ok(s.membership!.rekeys >= 1);
    t.diagnostic(`decrypt failures: ${summaries.map((s) => s.decryptFailed).join(', ')}`);
  });

  it('a late joiner, handed every frame sent before it joined, opens none of them', async (t) => {
    const hosted = await createHostedLink(server.url, server.apiKey, { peers: 6 });
    const annTap = tap();
    const joeTap = tap();
    const rekeyed: { senderId: bigint; fromCtr: bigint; epoch: number }[] = [];
    const peers: NodePeer[] = [];
    const onRekeyed = (i: number) => (senderId: bigint, layer: number, fromCtr: bigint) => layer === 0 && rekeyed.push({ senderId, fromCtr, epoch: peers[i].membership!.epoch });
    const { peer: host } = await member(hosted.link, 'host', 440, 5, { signing: hosted.signing, onRekeyed: onRekeyed(0) });
    const { peer: ann } = await member(hosted.link, 'ann', 660, 5, { socket: annTap.factory, onRekeyed: onRekeyed(1) });
    peers.push(host, ann);
    const runs = [host.run(), ann.run()];
    await until(() => annTap.sockets[0]?.filter((f) => wireControlSender(f) < 0).length > 150, 15_000, 'a second and a half of the call');
    const before = annTap.sockets[0].filter((f) => wireControlSender(f) < 0);

    const joeHeard: { sender: bigint; ctr: bigint }[] = [];
    const { peer: joe } = await member(hosted.link, 'joe', 880, 2, { socket: joeTap.factory, onAudio: (sender, ctr) => joeHeard.push({ sender, ctr }) });
    peers.push(joe);
    const joeSecrets: Uint8Array[] = [hosted.link.leafBytes!];
    joe.membership!.on('admitted', () => joeSecrets.push(joe.membership!.secret()!.slice()));
    joe.membership!.on('epoch', () => joeSecrets.push(joe.membership!.secret()!.slice()));
    const joeRun = joe.run();
    await until(() => joe.membership!.isAdmitted && joeHeard.length > 20, 15_000, 'joe admitted and hearing');
    const joinEpoch = joeSecrets.length > 1 ? joe.membership!.stats.epoch : -1;
    // A malicious relay hands joe everything said before it joined, as if it were live.
    for (const frame of before) joeTap.inject(frame);
    await Promise.all([...runs, joeRun]);

    const switchedAt = new Map(rekeyed.filter((r) => r.epoch === joinEpoch).map((r) => [r.senderId, r.fromCtr]));
    assert.equal(switchedAt.size, 2, 'host and ann ratcheted forward when joe joined');
    const isBefore = (o: { sender: bigint; ctr: bigint }) => switchedAt.has(o.sender) && o.ctr < switchedAt.get(o.sender)!;
    const heardBefore = joeHeard.filter(isBefore);
    const opened = (await openWithAll(before, joeSecrets)).map((o) => ({ sender: o.senderId, ctr: o.ctr })).filter(isBefore);
    t.diagnostic(`joe (admitted at epoch ${joinEpoch}) was handed ${before.length} earlier frames: heard ${heardBefore.length}, opened offline with its ${joeSecrets.length} keys ${opened.length}; heard ${joeHeard.length} frames after it joined`);
    assert.ok(joeHeard.length > 50, 'joe hears the call after it joined');
    assert.equal(heardBefore.length, 0, 'joe heard none of the frames sent before it joined');
    assert.equal(opened.length, 0, 'no key joe ever held opens a frame sent before it joined');
  });

  it('forged, replayed and truncated membership messages, from a member without the host role or from the server, are refused, counted, and change no key', async (t) => {
    const hosted = await createHostedLink(server.url, server.apiKey, { peers: 6 });
    const annTap = tap();
    const annHeard: number[] = [];
    const { peer: host } = await member(hosted.link, 'host', 440, 8, { signing: hosted.signing });
    const { peer: ann } = await member(hosted.link, 'ann', 660, 8, { socket: annTap.factory, onAudio: (_s, _c, at) => annHeard.push(at) });
    const { peer: mal, identity: malId } = await member(hosted.link, 'mallory', 880, 8);
    // Mallory keeps every membership message it is given, to send them again.
    const plaintexts: Uint8Array[] = [];
    const malMembership = mal.membership!;
    const onControl = malMembership.onControl.bind(malMembership);
    malMembership.onControl = (core, sender, plain) => {
      plaintexts.push(plain.slice());
      onControl(core, sender, plain);
    };
    const mallory = mal.call as MemberCall;
    const runs = [host, ann, mal].map((p) => p.run());
    await until(() => [host, ann, mal].every((p) => p.membership!.isAdmitted) && host.membership!.roster.list().filter((e) => e.admitted).length === 3, 15_000, 'everyone admitted');
    await until(() => annHeard.length > 50, 10_000, 'audio');
    const hostJoin = plaintexts.find((p) => p[1] === 3);
    assert.ok(hostJoin, 'mallory kept a JOIN the host signed');

    const keysBefore = [host, ann].map((p) => ({ epoch: p.membership!.epoch, secret: Buffer.from(p.membership!.secret()!).toString('hex') }));
    const core = mallory.activeCore;
    const line = core.line!;
    const signed = async (message: Parameters<typeof encodeUnsigned>[0]) => {
      const unsigned = encodeUnsigned(message);
      return concatBytes(unsigned, await sign(malId.signing.privateKey, signatureInput(line, unsigned)));
    };
    const epoch = ann.membership!.epoch;
    const hostPub = hosted.link.hostKey!;
    // From a member without the role: a promotion of itself signed by itself; one that names the host as signer; a roster entry with another's sender id.
    await core.sendControl(await signed({ kind: 'promote', epoch: epoch + 1, signerPub: malId.signing.publicKey, promotedSignPub: malId.signing.publicKey }));
    await core.sendControl(await signed({ kind: 'promote', epoch: epoch + 1, signerPub: hostPub, promotedSignPub: malId.signing.publicKey }));
    await core.sendControl(await signed({ kind: 'roster', sender: core.senderId! + 1n, signPub: malId.signing.publicKey, hpkePub: malId.hpke.publicKey, name: 'host' }));
    // Replayed: the host's own JOIN, signature intact, sent again (its epoch is past).
    await core.sendControl(hostJoin!);
    // Truncated: the same, cut short.
    await core.sendControl(hostJoin!.subarray(0, hostJoin!.length - 10));
    // From the server (it holds no key): a control frame ann already had, again; one cut short; one made up.
    const hostControl = annTap.sockets[0].filter((f) => wireControlSender(f) >= 0);
    const seen = hostControl.at(-1)!;
    annTap.inject(seen);
    // A cut or made-up frame under a counter not seen yet (a seen one is refused as a replay before any check).
    const header = decodeHeader(seen, 1)!;
    const body = seen.subarray(1 + header.length);
    annTap.inject(concatBytes(Uint8Array.of(seen[0]), encodeHeader(header.kid, header.ctr + 1000n), body.subarray(0, body.length - 5)));
    annTap.inject(concatBytes(Uint8Array.of(seen[0]), encodeHeader(header.kid, header.ctr + 2000n), globalThis.crypto.getRandomValues(new Uint8Array(body.length))));

    const expectedAnn = { forged: 3, replayed: 2, malformed: 1, undecryptable: 2, unsealable: 0 };
    const expectedHost = { forged: 3, replayed: 1, malformed: 1, undecryptable: 0, unsealable: 0 };
    const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
    await until(() => total(ann.membership!.stats.rejected) >= 8 && total(host.membership!.stats.rejected) >= 5, 10_000, 'every message refused');
    const heardBeforeAttack = annHeard.length;
    await until(() => annHeard.length > heardBeforeAttack + 50, 10_000, 'audio after the attacks');
    t.diagnostic(`ann refused ${JSON.stringify(ann.membership!.stats.rejected)}; host refused ${JSON.stringify(host.membership!.stats.rejected)}`);
    assert.deepEqual(ann.membership!.stats.rejected, expectedAnn);
    assert.deepEqual(host.membership!.stats.rejected, expectedHost);
    const keysAfter = [host, ann].map((p) => ({ epoch: p.membership!.epoch, secret: Buffer.from(p.membership!.secret()!).toString('hex') }));
    assert.deepEqual(keysAfter, keysBefore, 'nobody’s key changed');
    assert.equal(mal.membership!.roleOf(malId.signing.publicKey), 'member');
    const summaries = await Promise.all(runs);
    assert.equal(summaries[1].membership!.rejected.forged, 3, 'the counts reach the peer’s summary (what the CLI prints)');
  });

  it('the host promotes a member; when the host leaves, that member rekeys the others to a new line and they go on hearing each other', async (t) => {
    const hosted = await createHostedLink(server.url, server.apiKey, { peers: 6 });
    const bobHeard: { sender: bigint; at: number }[] = [];
    const hostLeaves = new AbortController();
    const { peer: host } = await member(hosted.link, 'host', 440, 10, { signing: hosted.signing, signal: hostLeaves.signal });
    const { peer: ann } = await member(hosted.link, 'ann', 660, 10);
    const { peer: bob } = await member(hosted.link, 'bob', 880, 10, { onAudio: (sender, _ctr, at) => bobHeard.push({ sender, at }) });
    const moves = [ann, bob].map((p) => new Promise<{ text: string; reason: string; at: number }>((resolve) => p.membership!.on('moved', ({ text, reason }) => resolve({ text, reason, at: performance.now() }))));
    const runs = [host, ann, bob].map((p) => p.run());
    await until(() => [host, ann, bob].every((p) => p.membership!.isAdmitted) && host.membership!.roster.list().filter((e) => e.admitted).length === 3, 15_000, 'everyone admitted');
    await host.membership!.promote('ann');
    const annKey = ann.membership!.roster.get(ann.membership!.id)!.signPub;
    await until(() => bob.membership!.roleOf(annKey) === 'admin', 5000, 'bob to see ann promoted');
    hostLeaves.abort();
    const [annMove, bobMove] = await Promise.all(moves);
    t.diagnostic(`the host left; ann rekeyed (${annMove.reason}); bob moved ${(bobMove.at - annMove.at).toFixed(1)} ms later`);
    assert.equal(annMove.reason, 'left');
    assert.equal(bobMove.text, annMove.text, 'bob moved to the line ann made');
    const [hostSummary, annSummary] = await Promise.all(runs);
    assert.equal(hostSummary.membership!.rekeys, 0, 'the host that left was not sent the new line');
    // At least the one move ann made. (One CI run saw ann move a second time later in the call: not
    // explained yet, and noted on the issue; the promises this test is about hold either way.)
    assert.ok(annSummary.membership!.rekeys >= 1, `ann moved ${annSummary.membership!.rekeys} times`);
    // Past the move (the old line is left MOVE_LINGER_MS after it), ann is heard on the new line only.
    const annOnNewLine = bobHeard.filter((h) => h.at > bobMove.at + 1500);
    assert.ok(annOnNewLine.length > 100, `bob heard ann on the new line (${annOnNewLine.length} frames)`);
  });

  it('the gateway passes a membership frame only on the sender’s own control stream, to every other member', async () => {
    const link = newLink(server.url, server.apiKey);
    const [a, b, c] = [await rawJoin(link), await rawJoin(link), await rawJoin(link)];
    await until(() => a.messages.some((m) => m.type === 'joined') && c.messages.filter((m) => m.type === 'peer_joined').length === 0 && a.messages.filter((m) => m.type === 'peer_joined').length === 2, 10_000, 'three on the line');
    const leaf = link.leafBytes!;
    // Its own control stream: both others get it, whatever the loudest speakers (level 127, silence).
    a.ws.send(await (await FrameSealer.create(leaf, a.sender, CONTROL_KID_TAG)).seal(127, new Uint8Array(40)));
    await until(() => b.frames.count === 1 && c.frames.count === 1, 5000, 'the frame at both others');
    // Another member's control stream: dropped and warned, nobody gets it.
    a.ws.send(await (await FrameSealer.create(leaf, b.sender, CONTROL_KID_TAG)).seal(127, new Uint8Array(40)));
    await until(() => a.messages.some((m) => m.type === 'error' && m.code === 'malformed_frame'), 5000, 'the warning');
    assert.equal(b.frames.count + c.frames.count, 2, 'the forged frame reached nobody');
    for (const x of [a, b, c]) x.ws.close();
  });
});
