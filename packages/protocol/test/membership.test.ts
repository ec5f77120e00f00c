/**
 * Membership's building blocks (issue 14): the message layouts, the control stream's KID, the epoch
 * ratchet, signatures bound to a line, HPKE to one member, and the host key in a link.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FrameSealer,
  LinkError,
  MembershipMessage,
  CONTROL_KID_TAG,
  concatBytes,
  decodeMembership,
  encodeUnsigned,
  formatCallLink,
  generateHpkeKeyPair,
  generateLeaf,
  generateSigningKeyPair,
  openFrom,
  parseCallLink,
  ratchetEpoch,
  sealTo,
  sign,
  signatureInput,
  utf8,
  verify,
  wireControlSender,
} from '../src/index.js';

const key = (n: number) => new Uint8Array(32).fill(n);
const sealed = { enc: key(7), ct: new Uint8Array(80).fill(8) };
const MESSAGES: MembershipMessage[] = [
  { kind: 'roster', sender: 0xabcdef123456n, signPub: key(1), hpkePub: key(2), name: 'Désirée', colour: 0x3366ff },
  { kind: 'roster', sender: 1n, signPub: key(1), hpkePub: key(2), name: '' },
  { kind: 'bye', sender: 42n, signPub: key(3) },
  { kind: 'join', epoch: 7, signerPub: key(4), joinerSignPub: key(5), welcome: sealed },
  { kind: 'rekey', epoch: 8, signerPub: key(4), goneSignPub: key(6), reason: 'excluded', recipients: [{ signPub: key(1), ...sealed }, { signPub: key(2), ...sealed }] },
  { kind: 'promote', epoch: 9, signerPub: key(4), promotedSignPub: key(5) },
];

describe('membership messages', () => {
  it('every kind decodes to what was encoded; every cut, and a byte too many, does not decode', () => {
    for (const message of MESSAGES) {
      const whole = concatBytes(encodeUnsigned(message), new Uint8Array(64).fill(9));
      const decoded = decodeMembership(whole);
      assert.deepEqual(decoded?.message, message, message.kind);
      assert.deepEqual(decoded?.signature, new Uint8Array(64).fill(9));
      for (let n = 0; n < whole.length; n++) assert.equal(decodeMembership(whole.subarray(0, n)), undefined, `${message.kind} cut to ${n} bytes`);
      assert.equal(decodeMembership(concatBytes(whole, Uint8Array.of(0))), undefined, `${message.kind} with a byte too many`);
    }
  });

  it('refuses a name over 64 bytes, an unknown kind or version', () => {
    assert.throws(() => encodeUnsigned({ kind: 'roster', sender: 1n, signPub: key(1), hpkePub: key(2), name: 'é'.repeat(33) }), RangeError);
    const roster = concatBytes(encodeUnsigned(MESSAGES[0]), new Uint8Array(64));
    assert.equal(decodeMembership(concatBytes(Uint8Array.of(2), roster.subarray(1))), undefined);
    assert.equal(decodeMembership(concatBytes(Uint8Array.of(1, 99), roster.subarray(2))), undefined);
  });

  it('rides on the control stream: the gateway reads the sender id, audio is not taken for it', async () => {
    const leaf = crypto.getRandomValues(new Uint8Array(32));
    const control = await FrameSealer.create(leaf, 0x123456789abcn, CONTROL_KID_TAG);
    assert.equal(wireControlSender(await control.seal(127, utf8('x'))), 0x123456789abc);
    const audio = await FrameSealer.create(leaf, 0x123456789abcn);
    assert.equal(wireControlSender(await audio.seal(0, new Uint8Array(100))), -1);
    const compact = await FrameSealer.create(leaf, 0x123456789abcn, 1);
    assert.equal(wireControlSender(await compact.seal(0, new Uint8Array(100))), -1);
  });

  it('a signature holds for its line and its bytes only', async () => {
    const pair = await generateSigningKeyPair();
    const bytes = encodeUnsigned(MESSAGES[5]);
    const signature = await sign(pair.privateKey, signatureInput('line-a', bytes));
    assert.equal(await verify(pair.publicKey, signatureInput('line-a', bytes), signature), true);
    assert.equal(await verify(pair.publicKey, signatureInput('line-b', bytes), signature), false, 'another line');
    const changed = bytes.slice();
    changed[3] ^= 1;
    assert.equal(await verify(pair.publicKey, signatureInput('line-a', changed), signature), false, 'a changed byte');
    assert.equal(await verify((await generateSigningKeyPair()).publicKey, signatureInput('line-a', bytes), signature), false, 'another key');
    assert.equal(await verify(new Uint8Array(5), signatureInput('line-a', bytes), signature), false, 'a malformed key');
  });

  it('the epoch ratchet is one secret per step, epoch and subject', async () => {
    const secret = key(11);
    const a = await ratchetEpoch(secret, 'join', 1, key(1));
    assert.deepEqual(a, await ratchetEpoch(secret, 'join', 1, key(1)), 'every member computes the same');
    for (const other of [await ratchetEpoch(secret, 'join', 2, key(1)), await ratchetEpoch(secret, 'join', 1, key(2)), await ratchetEpoch(secret, 'promote', 1, key(1))]) assert.notDeepEqual(a, other);
    assert.equal(a.length, 32);
  });

  it('HPKE opens for its recipient only, with the same info and aad', async () => {
    const [ann, bob] = await Promise.all([generateHpkeKeyPair(), generateHpkeKeyPair()]);
    const plain = crypto.getRandomValues(new Uint8Array(64));
    const box = await sealTo(ann.publicKey, utf8('info'), utf8('aad'), plain);
    assert.deepEqual(await openFrom(ann, box, utf8('info'), utf8('aad')), plain);
    assert.equal(await openFrom(bob, box, utf8('info'), utf8('aad')), undefined, 'another member');
    assert.equal(await openFrom(ann, box, utf8('other'), utf8('aad')), undefined, 'another line or epoch');
    const cut = { enc: box.enc, ct: box.ct.subarray(0, box.ct.length - 1) };
    assert.equal(await openFrom(ann, cut, utf8('info'), utf8('aad')), undefined, 'cut short');
  });

  it('a link carries the host key, and refuses a malformed one', async () => {
    const { publicKey } = await generateSigningKeyPair();
    const text = formatCallLink('https://calls.example', 'KEY', generateLeaf(), false, 4, publicKey);
    assert.deepEqual(parseCallLink(text).hostKey, publicKey);
    assert.equal(parseCallLink(formatCallLink('https://calls.example', 'KEY', generateLeaf())).hostKey, undefined);
    assert.throws(() => parseCallLink(text.replace(/host=[^&]+/, 'host=abc')), LinkError);
  });
});
