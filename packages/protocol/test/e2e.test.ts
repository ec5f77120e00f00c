import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FrameOpener,
  FrameSealer,
  ReplayWindow,
  decodeAudioFrame,
  deriveLineId,
  encodeAudioFrame,
  generateLeaf,
  parseLeaf,
  randomSenderId,
  wireFrameKid,
} from '../src/index.js';

describe('end-to-end frames', () => {
  it('a receiver opens what a sender sealed, and counts replays and forgeries', async () => {
    const leaf = parseLeaf(generateLeaf())!;
    const sender = randomSenderId();
    const sealer = await FrameSealer.create(leaf, sender);
    const opener = new FrameOpener(leaf);
    const pcm = Int16Array.from({ length: 2000 }, (_, i) => (i * 37) % 30000);
    const wire = await sealer.seal(20, encodeAudioFrame(200_000, pcm));
    assert.equal(wireFrameKid(wire), Number(sender));

    const opened = await opener.open(wire);
    assert.ok(typeof opened === 'object');
    assert.equal(opened.senderId, sender);
    assert.equal(opened.level, 20);
    assert.deepEqual(decodeAudioFrame(opened.plaintext), { sampleRate: 200_000, pcm });

    assert.equal(await opener.open(wire), 'replayed');
    const tampered = (await sealer.seal(20, encodeAudioFrame(200_000, pcm))).slice();
    tampered[100] ^= 0x40;
    assert.equal(await opener.open(tampered), 'decrypt_failed');
    // The level byte is authenticated: a server that rewrites it breaks the frame.
    const relabelled = (await sealer.seal(20, encodeAudioFrame(200_000, pcm))).slice();
    relabelled[0] = 0;
    assert.equal(await opener.open(relabelled), 'decrypt_failed');
    assert.equal(await opener.open(Uint8Array.of(200, 1, 2)), 'malformed');
    assert.deepEqual(opener.stats, { received: 1, malformed: 1, replayed: 1, decryptFailed: 2 });
  });

  it('a different leaf cannot open the frames', async () => {
    const sealer = await FrameSealer.create(parseLeaf(generateLeaf())!, 5n);
    const opener = new FrameOpener(parseLeaf(generateLeaf())!);
    assert.equal(await opener.open(await sealer.seal(0, new Uint8Array(10))), 'decrypt_failed');
  });

  it('the line id is stable for a leaf, differs between leaves, and does not contain the leaf', async () => {
    const leafText = generateLeaf();
    const leaf = parseLeaf(leafText)!;
    const id = await deriveLineId(leaf);
    assert.equal(id, await deriveLineId(leaf));
    assert.match(id, /^[A-Za-z0-9_-]{22}$/);
    assert.notEqual(id, await deriveLineId(parseLeaf(generateLeaf())!));
    assert.ok(!leafText.includes(id.slice(0, 8)));
  });
});

describe('replay window', () => {
  it('accepts each counter once, late frames within the window, and nothing older', () => {
    const w = new ReplayWindow(16);
    for (const c of [0n, 1n, 5n, 3n]) {
      assert.ok(w.mayAccept(c));
      w.markSeen(c);
    }
    assert.equal(w.mayAccept(3n), false);
    assert.equal(w.mayAccept(5n), false);
    assert.ok(w.mayAccept(4n));
    w.markSeen(40n);
    assert.equal(w.mayAccept(24n), false, 'too old');
    assert.ok(w.mayAccept(25n));
    assert.ok(w.mayAccept(41n));
    assert.equal(w.mayAccept(40n), false);
  });
});
