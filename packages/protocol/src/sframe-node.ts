/**
 * The SFrame AEAD on node:crypto, for Node only (the web bundle never imports this file).
 *
 * Why: WebCrypto in Node runs each encrypt/decrypt on the libuv thread pool and resolves a promise
 * afterwards; for a 4 kB audio frame that round trip costs about twice the cipher itself (52 µs
 * against 24 µs measured on the development machine, bench/seal-open.mjs). createCipheriv is
 * synchronous and OpenSSL's, the same AES-GCM and AES-CTR + HMAC with identical output: the RFC 9605
 * vectors pass on both backends and frames sealed by one open with the other (tests).
 */
import { KeyObject, createCipheriv, createDecipheriv, createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import { Aead, AeadBackend, CipherSuite, setAeadBackend } from './sframe.js';

/** A Buffer result as a plain Uint8Array over the same memory (callers compare and slice Uint8Arrays). */
function plain(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

function createGcm(suite: CipherSuite, key: Uint8Array): Aead {
  const algorithm = `aes-${suite.nk * 8}-gcm` as 'aes-128-gcm' | 'aes-256-gcm';
  const keyObject: KeyObject = createSecretKey(key);
  const authTagLength = suite.nt;
  return {
    async encrypt(nonce, aad, plaintext) {
      const cipher = createCipheriv(algorithm, keyObject, nonce, { authTagLength });
      cipher.setAAD(aad);
      const body = cipher.update(plaintext);
      const final = cipher.final();
      return plain(Buffer.concat([body, final, cipher.getAuthTag()], plaintext.length + authTagLength));
    },
    async decrypt(nonce, aad, ciphertext) {
      if (ciphertext.length < authTagLength) return undefined;
      const end = ciphertext.length - authTagLength;
      const decipher = createDecipheriv(algorithm, keyObject, nonce, { authTagLength });
      decipher.setAAD(aad);
      decipher.setAuthTag(ciphertext.subarray(end));
      const body = decipher.update(ciphertext.subarray(0, end));
      try {
        decipher.final();
      } catch {
        return undefined;
      }
      return plain(body);
    },
  };
}

/** AES-CTR with a truncated HMAC tag, RFC 9605 §4.5.1 (the same construction as the WebCrypto backend). */
function createCtrHmac(suite: CipherSuite, key: Uint8Array): Aead {
  const nka = suite.nka as number;
  const algorithm = `aes-${nka * 8}-ctr`;
  const encKey = createSecretKey(key.subarray(0, nka));
  const authKey = createSecretKey(key.subarray(nka));
  const hash = suite.hash === 'SHA-256' ? 'sha256' : 'sha512';
  const tag = (nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Buffer => {
    const lengths = Buffer.alloc(24);
    lengths.writeBigUInt64BE(BigInt(aad.length), 0);
    lengths.writeBigUInt64BE(BigInt(ct.length), 8);
    lengths.writeBigUInt64BE(BigInt(suite.nt), 16);
    return createHmac(hash, authKey).update(lengths).update(nonce).update(aad).update(ct).digest().subarray(0, suite.nt);
  };
  // The 16-byte counter block is the nonce then a 32-bit block counter from 0 (WebCrypto's length: 32);
  // OpenSSL carries into the nonce only past 2^32 blocks, far beyond any frame.
  const ctr = (nonce: Uint8Array, data: Uint8Array): Buffer => {
    const iv = Buffer.alloc(16);
    iv.set(nonce);
    const c = createCipheriv(algorithm, encKey, iv);
    return Buffer.concat([c.update(data), c.final()]);
  };
  return {
    async encrypt(nonce, aad, plaintext) {
      const ct = ctr(nonce, plaintext);
      return plain(Buffer.concat([ct, tag(nonce, aad, ct)]));
    },
    async decrypt(nonce, aad, ciphertext) {
      if (ciphertext.length < suite.nt) return undefined;
      const ct = ciphertext.subarray(0, ciphertext.length - suite.nt);
      if (!timingSafeEqual(tag(nonce, aad, ct), ciphertext.subarray(ciphertext.length - suite.nt))) return undefined;
      return plain(ctr(nonce, ct));
    },
  };
}

export const nodeCryptoBackend: AeadBackend = {
  name: 'node:crypto',
  create: async (suite, key) => (suite.nka === undefined ? createGcm(suite, key) : createCtrHmac(suite, key)),
};

/** Makes node:crypto the default SFrame backend of this process (idempotent); Node entry points call it at start. */
export function useNodeCrypto(): void {
  setAeadBackend(nodeCryptoBackend);
}
