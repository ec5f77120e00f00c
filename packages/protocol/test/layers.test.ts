import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  COMPACT_BUDGET_BPS,
  FRAME_MS,
  FrameOpener,
  FrameSealer,
  LAYER_COMPACT,
  LAYER_FULL,
  MAX_COMPACT_WIRE_FRAME_BYTES,
  decodeOpusFrame,
  encodeJoin,
  encodeOpusFrame,
  generateLeaf,
  parseClientMessage,
  parseLeaf,
  randomSenderId,
  wireFrameKid,
  wireFrameLayer,
  wireKidLayer,
  wireKidSender,
} from '../src/index.js';

const LINE = 'A'.repeat(22);

describe('layers on the wire', () => {
  it('a sender seals frame n of its capture under counter n on every layer, skipping counters but never reusing one', async () => {
    const leaf = parseLeaf(generateLeaf())!;
    const sender = randomSenderId();
    const full = await FrameSealer.create(leaf, sender, LAYER_FULL);
    const compact = await FrameSealer.create(leaf, sender, LAYER_COMPACT);
    const opener = new FrameOpener(leaf);
    // Frames 0 and 1 on both layers; frame 2 not sent on the full layer (its socket was full); frame 3 on both.
    for (const ctr of [0n, 1n, 3n]) await opener.open(await full.seal(30, new Uint8Array(10), ctr));
    for (const ctr of [0n, 1n, 2n, 3n]) {
      const opened = await opener.open(await compact.seal(30, encodeOpusFrame(new Uint8Array(60)), ctr));
      assert.ok(typeof opened === 'object' && opened.ctr === ctr, 'a receiver reads the same counter on either layer');
    }
    assert.equal(full.sealed, 4n);
    // A counter used already is half a nonce used already: refused, whichever way it is asked for.
    await assert.rejects(full.seal(30, new Uint8Array(10), 3n), RangeError);
    await assert.rejects(full.seal(30, new Uint8Array(10), 0n), RangeError);
    assert.equal(full.sealed, 4n, 'a refused counter changes nothing');
  });

  it('each layer of a sender is its own SFrame stream, and the server reads the layer from the clear KID', async () => {
    const leaf = parseLeaf(generateLeaf())!;
    const sender = randomSenderId();
    const full = await FrameSealer.create(leaf, sender, LAYER_FULL);
    const compact = await FrameSealer.create(leaf, sender, LAYER_COMPACT);
    const fullWire = await full.seal(30, new Uint8Array(100));
    const compactWire = await compact.seal(30, encodeOpusFrame(new Uint8Array(60).fill(7)));

    // The full layer's KID is the sender id itself, as before layers: old frames keep their meaning.
    assert.equal(wireFrameKid(fullWire), Number(sender));
    assert.equal(wireFrameLayer(fullWire), LAYER_FULL);
    const kid = wireFrameKid(compactWire);
    assert.equal(wireKidSender(kid), Number(sender));
    assert.equal(wireKidLayer(kid), LAYER_COMPACT);
    assert.equal(wireFrameLayer(compactWire), LAYER_COMPACT);

    // Both start at counter 0 and both open: separate keys, counters and replay windows.
    const opener = new FrameOpener(leaf);
    const a = await opener.open(fullWire);
    const b = await opener.open(compactWire);
    assert.ok(typeof a === 'object' && typeof b === 'object');
    assert.deepEqual([a.senderId, a.layer, a.ctr], [sender, LAYER_FULL, 0n]);
    assert.deepEqual([b.senderId, b.layer, b.ctr], [sender, LAYER_COMPACT, 0n]);
    assert.deepEqual(decodeOpusFrame(b.plaintext), new Uint8Array(60).fill(7));

    // A server that moves a frame to the other layer (rewrites the KID's layer byte) breaks it.
    const moved = (await compact.seal(30, encodeOpusFrame(new Uint8Array(60)))).slice();
    moved[2] = 0;
    assert.equal(wireFrameLayer(moved), LAYER_FULL);
    assert.equal(await opener.open(moved), 'decrypt_failed');
    // A KID naming a layer that does not exist is malformed at the gateway and at the receiver.
    const unknown = compactWire.slice();
    unknown[2] = 9;
    assert.equal(wireFrameKid(unknown), -1);
    assert.equal(await opener.open(unknown), 'malformed');
  });

  it('the gateway bound on compact frames keeps a mobile receiver within its budget per speaker', () => {
    const websocketHeader = 4;
    assert.ok(((MAX_COMPACT_WIRE_FRAME_BYTES + websocketHeader) * 8 * 1000) / FRAME_MS <= COMPACT_BUDGET_BPS);
    assert.ok(MAX_COMPACT_WIRE_FRAME_BYTES >= 89 + 30, 'our 89-byte frames pass with room');
  });
});

describe('join layers', () => {
  const join = (extra: Record<string, unknown>) => parseClientMessage(JSON.stringify({ type: 'join', v: 1, apikey: 'k', line: LINE, sender: 'ab', rate: 48000, ...extra }));

  it('a join from before layers sends and receives the full layer', () => {
    assert.deepEqual(join({}), { type: 'join', v: 1, apikey: 'k', line: LINE, sender: 'ab', rate: 48000, layers: ['full'], receive: 'full' });
  });

  it('a mobile join sends and receives the compact layer; layers are put best first', () => {
    const mobile = join({ layers: ['compact'], receive: 'compact' });
    assert.ok(mobile?.type === 'join');
    assert.deepEqual([mobile.layers, mobile.receive], [['compact'], 'compact']);
    const both = join({ layers: ['compact', 'full'] });
    assert.ok(both?.type === 'join');
    assert.deepEqual([both.layers, both.receive], [['full', 'compact'], 'full']);
    assert.deepEqual(JSON.parse(encodeJoin('k', LINE, 0xabn, 48000, { layers: { layers: ['compact'], receive: 'compact' } })).layers, ['compact']);
  });

  it('unknown, repeated or empty layers make the join malformed', () => {
    for (const bad of [{ layers: [] }, { layers: ['full', 'full'] }, { layers: ['hd'] }, { layers: 'full' }, { receive: 'hd' }, { receive: 1 }]) {
      assert.equal(join(bad), undefined, JSON.stringify(bad));
    }
  });
});
