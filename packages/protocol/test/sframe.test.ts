import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AeadBackend, CIPHER_SUITES, SFrameContext, bytesToHex, createAead, decodeHeader, deriveKeySalt, encodeHeader, frameNonce, hexToBytes, webCryptoBackend } from '../src/index.js';
import { nodeCryptoBackend } from '../src/sframe-node.js';

const BACKENDS: AeadBackend[] = [webCryptoBackend, nodeCryptoBackend];

// The vectors hold 64-bit integers, which JSON.parse would round: quote them first.
const raw = readFileSync(join(__dirname, '../../test/fixtures/rfc9605-test-vectors.json'), 'utf8');
const vectors = JSON.parse(raw.replace(/"(kid|ctr)":\s*(\d+)/g, '"$1":"$2"'));

describe('RFC 9605 test vectors', () => {
  it('encodes and decodes every header vector', () => {
    assert.ok(vectors.header.length > 200);
    for (const v of vectors.header) {
      const kid = BigInt(v.kid);
      const ctr = BigInt(v.ctr);
      assert.equal(bytesToHex(encodeHeader(kid, ctr)), v.encoded, `kid=${v.kid} ctr=${v.ctr}`);
      const parsed = decodeHeader(hexToBytes(v.encoded));
      assert.deepEqual(parsed, { kid, ctr, length: v.encoded.length / 2 });
    }
  });

  for (const backend of BACKENDS) {
    it(`passes the AES-CTR-HMAC AEAD vectors (suites 1-3) on ${backend.name}`, async () => {
      for (const v of vectors.aes_ctr_hmac) {
        const aead = await createAead(CIPHER_SUITES[v.cipher_suite], hexToBytes(v.key), backend);
        const ct = await aead.encrypt(hexToBytes(v.nonce), hexToBytes(v.aad), hexToBytes(v.pt));
        assert.equal(bytesToHex(ct), v.ct, `suite ${v.cipher_suite}`);
        const pt = await aead.decrypt(hexToBytes(v.nonce), hexToBytes(v.aad), hexToBytes(v.ct));
        assert.equal(pt && bytesToHex(pt), v.pt);
      }
    });

    it(`passes the full SFrame vectors of suites 1-5 (key, salt, nonce, ciphertext) on ${backend.name}`, async () => {
      assert.deepEqual(vectors.sframe.map((v: { cipher_suite: number }) => v.cipher_suite), [1, 2, 3, 4, 5]);
      for (const v of vectors.sframe) {
        const suite = CIPHER_SUITES[v.cipher_suite];
        const kid = BigInt(v.kid);
        const ctr = BigInt(v.ctr);
        const { key, salt } = await deriveKeySalt(suite, kid, hexToBytes(v.base_key));
        assert.equal(bytesToHex(key), v.sframe_key, `key, suite ${suite.id}`);
        assert.equal(bytesToHex(salt), v.sframe_salt, `salt, suite ${suite.id}`);
        assert.equal(bytesToHex(frameNonce(salt, ctr)), v.nonce, `nonce, suite ${suite.id}`);
        const ctx = await SFrameContext.create(suite, kid, hexToBytes(v.base_key), backend);
        const ct = await ctx.encrypt(ctr, hexToBytes(v.pt), hexToBytes(v.metadata));
        assert.equal(bytesToHex(ct), v.ct, `ciphertext, suite ${suite.id}`);
        const frame = hexToBytes(v.ct);
        const pt = await ctx.decrypt(frame, decodeHeader(frame)!, hexToBytes(v.metadata));
        assert.equal(pt && bytesToHex(pt), v.pt, `decrypt, suite ${suite.id}`);
      }
    });
  }
});

describe('SFrame authentication', () => {
  for (const backend of BACKENDS) {
    it(`rejects a frame with one flipped bit, wrong metadata, or another key on ${backend.name}`, async () => {
      const suite = CIPHER_SUITES[5];
      const ctx = await SFrameContext.create(suite, 7n, new Uint8Array(32).fill(1), backend);
      const frame = await ctx.encrypt(3n, new Uint8Array([1, 2, 3]), Uint8Array.of(9));
      const header = decodeHeader(frame)!;
      assert.deepEqual(await ctx.decrypt(frame, header, Uint8Array.of(9)), new Uint8Array([1, 2, 3]));
      const tampered = frame.slice();
      tampered[tampered.length - 5] ^= 1;
      assert.equal(await ctx.decrypt(tampered, header, Uint8Array.of(9)), undefined);
      assert.equal(await ctx.decrypt(frame, header, Uint8Array.of(10)), undefined);
      const other = await SFrameContext.create(suite, 7n, new Uint8Array(32).fill(2), backend);
      assert.equal(await other.decrypt(frame, header, Uint8Array.of(9)), undefined);
    });
  }
});

describe('SFrame backends interoperate', () => {
  it('opens with node:crypto what WebCrypto sealed, and the other way, for every suite', async () => {
    const baseKey = new Uint8Array(32).map((_, i) => i * 7 + 1);
    const plaintext = new Uint8Array(4006).map((_, i) => (i * 31) & 0xff);
    const metadata = Uint8Array.of(42);
    for (const suite of Object.values(CIPHER_SUITES)) {
      for (const [from, to] of [[webCryptoBackend, nodeCryptoBackend], [nodeCryptoBackend, webCryptoBackend]]) {
        const sealer = await SFrameContext.create(suite, 0x123456789an, baseKey, from);
        const opener = await SFrameContext.create(suite, 0x123456789an, baseKey, to);
        const frame = await sealer.encrypt(1000n, plaintext, metadata);
        const opened = await opener.decrypt(frame, decodeHeader(frame)!, metadata);
        assert.ok(opened, `suite ${suite.id}: ${from.name} -> ${to.name}`);
        assert.equal(bytesToHex(opened), bytesToHex(plaintext));
        // A forgery is refused by the other backend too.
        const forged = frame.slice();
        forged[frame.length - 1] ^= 0x80;
        assert.equal(await opener.decrypt(forged, decodeHeader(forged)!, metadata), undefined, `suite ${suite.id}: forged`);
      }
    }
  });
});
