/**
 * SFrame, RFC 9605. The AEAD runs on a pluggable backend: WebCrypto by default (browsers, and any
 * runtime without node:crypto); Node entry points install the node:crypto backend
 * (`@studioline/protocol/node`), whose synchronous ciphers cost half as much per frame as WebCrypto's
 * thread-pool round trip. This file never imports node:crypto, so the web bundle stays free of it.
 *
 * Studioline uses cipher suite 0x0005 (AES_256_GCM_SHA512_128); suites 1-4 are implemented as well
 * because the RFC's test vectors cover them and they cost little. KID and CTR are bigints because the
 * header carries up to 64 bits of each.
 */
import { bufferSource, concatBytes, utf8 } from './bytes.js';

export interface CipherSuite {
  readonly id: number;
  readonly name: string;
  readonly hash: 'SHA-256' | 'SHA-512';
  /** Key length in bytes (for AES-CTR-HMAC: encryption key plus authentication key). */
  readonly nk: number;
  readonly nn: number;
  readonly nt: number;
  /** For AES-CTR-HMAC suites: the length of the encryption part of the key. */
  readonly nka?: number;
}

export const CIPHER_SUITES: Readonly<Record<number, CipherSuite>> = {
  1: { id: 1, name: 'AES_128_CTR_HMAC_SHA256_80', hash: 'SHA-256', nk: 48, nn: 12, nt: 10, nka: 16 },
  2: { id: 2, name: 'AES_128_CTR_HMAC_SHA256_64', hash: 'SHA-256', nk: 48, nn: 12, nt: 8, nka: 16 },
  3: { id: 3, name: 'AES_128_CTR_HMAC_SHA256_32', hash: 'SHA-256', nk: 48, nn: 12, nt: 4, nka: 16 },
  4: { id: 4, name: 'AES_128_GCM_SHA256_128', hash: 'SHA-256', nk: 16, nn: 12, nt: 16 },
  5: { id: 5, name: 'AES_256_GCM_SHA512_128', hash: 'SHA-512', nk: 32, nn: 12, nt: 16 },
};

/** The suite Studioline speaks. */
export const STUDIOLINE_SUITE = CIPHER_SUITES[5];

const MAX_U64 = (1n << 64n) - 1n;

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('WebCrypto is not available (a browser needs a secure context: https or localhost)');
  return s;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

// Every frame encodes a header and a nonce: below 2^53 (every sender id and counter in practice)
// the bytes are computed on numbers, which costs a fraction of bigint shifts.

function byteLength(value: bigint): number {
  let n = 0;
  if (value <= MAX_SAFE) {
    for (let v = Number(value); v > 0; v = Math.floor(v / 256)) n++;
    return n;
  }
  while (value > 0n) {
    n++;
    value >>= 8n;
  }
  return n;
}

function bigEndian(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  if (value <= MAX_SAFE) {
    let v = Number(value);
    for (let i = length - 1; i >= 0 && v > 0; i--, v = Math.floor(v / 256)) out[i] = v % 256;
    return out;
  }
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return out;
}

/** The SFrame header (RFC 9605 §4.3): one config byte, then KID and CTR in the fewest bytes. */
export function encodeHeader(kid: bigint, ctr: bigint): Uint8Array {
  if (kid < 0n || kid > MAX_U64 || ctr < 0n || ctr > MAX_U64) throw new RangeError('KID and CTR must fit in 64 bits');
  let config = 0;
  const parts: Uint8Array[] = [];
  if (kid < 8n) config |= Number(kid) << 4;
  else {
    const len = byteLength(kid);
    config |= 0x80 | ((len - 1) << 4);
    parts.push(bigEndian(kid, len));
  }
  if (ctr < 8n) config |= Number(ctr);
  else {
    const len = byteLength(ctr);
    config |= 0x08 | (len - 1);
    parts.push(bigEndian(ctr, len));
  }
  return concatBytes(Uint8Array.of(config), ...parts);
}

export interface SFrameHeader {
  kid: bigint;
  ctr: bigint;
  /** Header length in bytes. */
  length: number;
}

function readBigEndian(bytes: Uint8Array, offset: number, length: number): bigint {
  let value = 0n;
  for (let i = 0; i < length; i++) value = (value << 8n) | BigInt(bytes[offset + i]);
  return value;
}

/** Parses an SFrame header at `offset`; undefined when the bytes are too short to hold it. */
export function decodeHeader(bytes: Uint8Array, offset = 0): SFrameHeader | undefined {
  if (bytes.length <= offset) return undefined;
  const config = bytes[offset];
  let pos = offset + 1;
  let kid: bigint;
  if (config & 0x80) {
    const len = ((config >> 4) & 7) + 1;
    if (bytes.length < pos + len) return undefined;
    kid = readBigEndian(bytes, pos, len);
    pos += len;
  } else kid = BigInt((config >> 4) & 7);
  let ctr: bigint;
  if (config & 0x08) {
    const len = (config & 7) + 1;
    if (bytes.length < pos + len) return undefined;
    ctr = readBigEndian(bytes, pos, len);
    pos += len;
  } else ctr = BigInt(config & 7);
  return { kid, ctr, length: pos - offset };
}

export interface KeySalt {
  key: Uint8Array;
  salt: Uint8Array;
}

/** derive_key_salt of RFC 9605 §4.4.2. */
export async function deriveKeySalt(suite: CipherSuite, kid: bigint, baseKey: Uint8Array): Promise<KeySalt> {
  const ikm = await subtle().importKey('raw', bufferSource(baseKey), 'HKDF', false, ['deriveBits']);
  const suffix = concatBytes(bigEndian(kid, 8), bigEndian(BigInt(suite.id), 2));
  const expand = async (label: string, length: number) =>
    new Uint8Array(
      await subtle().deriveBits(
        { name: 'HKDF', hash: suite.hash, salt: new Uint8Array(0), info: bufferSource(concatBytes(utf8(label), suffix)) },
        ikm,
        length * 8,
      ),
    );
  return { key: await expand('SFrame 1.0 Secret key ', suite.nk), salt: await expand('SFrame 1.0 Secret salt ', suite.nn) };
}

/** An AEAD of one suite with one key, imported once so that each frame costs one WebCrypto call. */
export interface Aead {
  encrypt(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array>;
  /** Resolves to undefined when authentication fails. */
  decrypt(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array | undefined>;
}

/** Makes an {@link Aead} for one key: where the cipher work of every frame is done. */
export interface AeadBackend {
  readonly name: string;
  /** Imports the key once; called once per sender (per KID), never per frame. */
  create(suite: CipherSuite, key: Uint8Array): Promise<Aead>;
}

export const webCryptoBackend: AeadBackend = {
  name: 'webcrypto',
  create: (suite, key) => (suite.nka === undefined ? createGcm(suite, key) : createCtrHmac(suite, key)),
};

let defaultBackend: AeadBackend = webCryptoBackend;

/** The backend every new SFrame context uses unless given one (set once, at start, by a Node entry point). */
export function setAeadBackend(backend: AeadBackend): void {
  defaultBackend = backend;
}

export function aeadBackend(): AeadBackend {
  return defaultBackend;
}

export async function createAead(suite: CipherSuite, key: Uint8Array, backend: AeadBackend = defaultBackend): Promise<Aead> {
  if (key.length !== suite.nk) throw new RangeError(`suite ${suite.id} needs a ${suite.nk}-byte key`);
  return backend.create(suite, key);
}

async function createGcm(suite: CipherSuite, key: Uint8Array): Promise<Aead> {
  const cryptoKey = await subtle().importKey('raw', bufferSource(key), 'AES-GCM', false, ['encrypt', 'decrypt']);
  const tagLength = suite.nt * 8;
  return {
    async encrypt(nonce, aad, plaintext) {
      return new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv: bufferSource(nonce), additionalData: bufferSource(aad), tagLength }, cryptoKey, bufferSource(plaintext)));
    },
    async decrypt(nonce, aad, ciphertext) {
      try {
        return new Uint8Array(await subtle().decrypt({ name: 'AES-GCM', iv: bufferSource(nonce), additionalData: bufferSource(aad), tagLength }, cryptoKey, bufferSource(ciphertext)));
      } catch {
        return undefined;
      }
    },
  };
}

/** AES-CTR with a truncated HMAC tag, RFC 9605 §4.5.1. */
async function createCtrHmac(suite: CipherSuite, key: Uint8Array): Promise<Aead> {
  const nka = suite.nka as number;
  const encKey = await subtle().importKey('raw', bufferSource(key.subarray(0, nka)), 'AES-CTR', false, ['encrypt', 'decrypt']);
  const authKey = await subtle().importKey('raw', bufferSource(key.subarray(nka)), { name: 'HMAC', hash: suite.hash }, false, ['sign']);
  const tag = async (nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array) => {
    const lengths = concatBytes(bigEndian(BigInt(aad.length), 8), bigEndian(BigInt(ct.length), 8), bigEndian(BigInt(suite.nt), 8));
    const mac = new Uint8Array(await subtle().sign('HMAC', authKey, bufferSource(concatBytes(lengths, nonce, aad, ct))));
    return mac.subarray(0, suite.nt);
  };
  const counter = (nonce: Uint8Array) => concatBytes(nonce, new Uint8Array(4));
  return {
    async encrypt(nonce, aad, plaintext) {
      const ct = new Uint8Array(await subtle().encrypt({ name: 'AES-CTR', counter: bufferSource(counter(nonce)), length: 32 }, encKey, bufferSource(plaintext)));
      return concatBytes(ct, await tag(nonce, aad, ct));
    },
    async decrypt(nonce, aad, ciphertext) {
      if (ciphertext.length < suite.nt) return undefined;
      const ct = ciphertext.subarray(0, ciphertext.length - suite.nt);
      const expected = await tag(nonce, aad, ct);
      const got = ciphertext.subarray(ciphertext.length - suite.nt);
      let diff = 0;
      for (let i = 0; i < suite.nt; i++) diff |= expected[i] ^ got[i];
      if (diff !== 0) return undefined;
      return new Uint8Array(await subtle().decrypt({ name: 'AES-CTR', counter: bufferSource(counter(nonce)), length: 32 }, encKey, bufferSource(ct)));
    },
  };
}

/** nonce = salt XOR CTR, with CTR big-endian in Nn bytes. */
export function frameNonce(salt: Uint8Array, ctr: bigint): Uint8Array {
  const nonce = bigEndian(ctr, salt.length);
  for (let i = 0; i < salt.length; i++) nonce[i] ^= salt[i];
  return nonce;
}

/** One SFrame key (one KID): encrypts and decrypts whole SFrame ciphertexts (header included). */
export class SFrameContext {
  private constructor(
    readonly suite: CipherSuite,
    readonly kid: bigint,
    private readonly salt: Uint8Array,
    private readonly aead: Aead,
  ) {}

  static async create(suite: CipherSuite, kid: bigint, baseKey: Uint8Array, backend?: AeadBackend): Promise<SFrameContext> {
    const { key, salt } = await deriveKeySalt(suite, kid, baseKey);
    return new SFrameContext(suite, kid, salt, await createAead(suite, key, backend));
  }

  /**
   * Returns prefix || header || ciphertext || tag (the prefix, e.g. a wire frame's level byte, is
   * placed in the same copy rather than another). `metadata` is authenticated but not carried
   * (RFC 9605 §4.4.3).
   */
  async encrypt(ctr: bigint, plaintext: Uint8Array, metadata: Uint8Array = new Uint8Array(0), prefix: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
    const header = encodeHeader(this.kid, ctr);
    const ct = await this.aead.encrypt(frameNonce(this.salt, ctr), concatBytes(header, metadata), plaintext);
    return concatBytes(prefix, header, ct);
  }

  /** Decrypts a frame whose header was parsed already; undefined when authentication fails. */
  async decrypt(frame: Uint8Array, header: SFrameHeader, metadata: Uint8Array = new Uint8Array(0)): Promise<Uint8Array | undefined> {
    if (header.kid !== this.kid) return undefined;
    const aad = concatBytes(frame.subarray(0, header.length), metadata);
    return this.aead.decrypt(frameNonce(this.salt, header.ctr), aad, frame.subarray(header.length));
  }
}
