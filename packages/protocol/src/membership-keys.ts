/**
 * The keys of membership (issue 14): the epoch secret that audio is sealed under, its one-way
 * ratchet, and each session's Ed25519 signing key (the host's public half travels in the link).
 *
 * Epochs. On a line with a host (`host=` in the link) audio is not sealed under the leaf but under
 * an epoch secret: random when the host opens the call, or after a rekey (REKEY: a fresh secret,
 * sent to each remaining member alone with HPKE), and ratcheted forward by HKDF on every other
 * authority message (JOIN, PROMOTE). HKDF is one-way, so a joiner, handed the new epoch's secret,
 * cannot compute an earlier one; and no epoch secret derives from anything in a link, so holding a
 * link (a former member's, a joiner's) opens no audio. Each sender's base key is then derived from
 * the epoch secret exactly as from a leaf (keys.ts, deriveSenderBaseKey).
 */
import { bufferSource, concatBytes, utf8 } from './bytes.js';
import { EPOCH_SECRET_BYTES, SIGN_PUBLIC_BYTES } from './membership-wire.js';

function subtle(): SubtleCrypto {
  return globalThis.crypto.subtle;
}

export function randomEpochSecret(): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(EPOCH_SECRET_BYTES));
}

/** The step that made an epoch from the one before (what the authority message said). */
export type RatchetStep = 'join' | 'promote';

/** The next epoch's secret: HKDF-SHA-256 of the current one, bound to the step, the new epoch and its subject's key. */
export async function ratchetEpoch(secret: Uint8Array, step: RatchetStep, epoch: number, subjectSignPub: Uint8Array): Promise<Uint8Array> {
  const info = new Uint8Array(4);
  new DataView(info.buffer).setUint32(0, epoch);
  const key = await subtle().importKey('raw', bufferSource(secret), 'HKDF', false, ['deriveBits']);
  const bits = await subtle().deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: bufferSource(utf8('studioline')), info: bufferSource(concatBytes(utf8(`studioline epoch ${step} v1`), info, subjectSignPub)) },
    key,
    EPOCH_SECRET_BYTES * 8,
  );
  return new Uint8Array(bits);
}

/** A session's signing key: the private half never leaves the CryptoKey (not extractable). */
export interface SigningKeyPair {
  privateKey: CryptoKey;
  /** The raw Ed25519 public key (32 bytes). */
  publicKey: Uint8Array;
}

export async function generateSigningKeyPair(): Promise<SigningKeyPair> {
  const pair = (await subtle().generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  return { privateKey: pair.privateKey, publicKey: new Uint8Array(await subtle().exportKey('raw', pair.publicKey)) };
}

export async function sign(privateKey: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().sign('Ed25519', privateKey, bufferSource(data)));
}

/** True when `signature` is `publicKey`'s over `data`; false for a malformed key or signature. */
export async function verify(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (publicKey.length !== SIGN_PUBLIC_BYTES) return false;
  try {
    const key = await subtle().importKey('raw', bufferSource(publicKey), { name: 'Ed25519' }, false, ['verify']);
    return await subtle().verify('Ed25519', key, bufferSource(signature), bufferSource(data));
  } catch {
    return false;
  }
}

/** Equal public keys (not secret: no constant time needed). */
export function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
