/**
 * HPKE (RFC 9180), base mode, to one X25519 public key: how a new epoch's secret (and after a rekey
 * the new line's leaf) reaches each member alone. Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
 * AES-256-GCM. The implementation is hpke-js (MIT): maintained, tested against the RFC's vectors,
 * no native code. Its X25519 comes in two forms: @hpke/core's own on WebCrypto's X25519 (Node 20,
 * current browsers; asynchronous, about 2 ms a seal), and @hpke/dhkem-x25519 in plain JavaScript for
 * a browser without WebCrypto X25519. The plain one blocks the thread 5 to 30 ms per operation (it
 * would stall audio during a rekey), so it is only the fallback.
 */
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256 as WebCryptoX25519, HkdfSha256 } from '@hpke/core';
import { DhkemX25519HkdfSha256 as PlainX25519 } from '@hpke/dhkem-x25519';
import type { Sealed } from './membership-wire.js';

/** A copy's own ArrayBuffer (hpke-js takes ArrayBuffers, and a view's buffer may be larger than the view). */
function ab(view: Uint8Array): ArrayBuffer {
  return view.slice().buffer as ArrayBuffer;
}

let suite: Promise<CipherSuite> | undefined;
function hpke(): Promise<CipherSuite> {
  return (suite ??= globalThis.crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']).then(
    () => new WebCryptoX25519(),
    () => new PlainX25519(),
  ).then((kem) => new CipherSuite({ kem, kdf: new HkdfSha256(), aead: new Aes256Gcm() })));
}

/** A session's X25519 key pair for HPKE; its public half travels in the roster. */
export interface HpkeKeyPair {
  keyPair: CryptoKeyPair;
  /** The raw X25519 public key (32 bytes). */
  publicKey: Uint8Array;
}

export async function generateHpkeKeyPair(): Promise<HpkeKeyPair> {
  const { kem } = await hpke();
  const keyPair = await kem.generateKeyPair();
  return { keyPair, publicKey: new Uint8Array(await kem.serializePublicKey(keyPair.publicKey)) };
}

/** Seals `plaintext` to `recipient`; `info` and `aad` bind it to its line, epoch and message. */
export async function sealTo(recipient: Uint8Array, info: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Sealed> {
  const h = await hpke();
  const recipientPublicKey = await h.kem.deserializePublicKey(ab(recipient));
  const sender = await h.createSenderContext({ recipientPublicKey, info: ab(info) });
  const ct = await sender.seal(ab(plaintext), ab(aad));
  return { enc: new Uint8Array(sender.enc), ct: new Uint8Array(ct) };
}

/** Opens what {@link sealTo} made for this key pair; undefined when it was not for it or was changed. */
export async function openFrom(own: HpkeKeyPair, sealed: Sealed, info: Uint8Array, aad: Uint8Array): Promise<Uint8Array | undefined> {
  try {
    const recipient = await (await hpke()).createRecipientContext({ recipientKey: own.keyPair, enc: ab(sealed.enc), info: ab(info) });
    return new Uint8Array(await recipient.open(ab(sealed.ct), ab(aad)));
  } catch {
    return undefined;
  }
}
