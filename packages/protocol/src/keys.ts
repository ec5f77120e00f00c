/**
 * The leaf key and what is derived from it. The leaf (32 random bytes) lives only in the URL
 * fragment; the server sees the line id (an HKDF output that reveals nothing about the leaf) and
 * each sender's id.
 */
import { base64urlToBytes, bufferSource, bytesToBase64url, concatBytes, utf8 } from './bytes.js';

export const LEAF_BYTES = 32;
/** 32 bytes in unpadded base64url. */
export const LEAF_TEXT_LENGTH = 43;
export const LINE_ID_BYTES = 16;

function subtle(): SubtleCrypto {
  return globalThis.crypto.subtle;
}

export function generateLeaf(): string {
  return bytesToBase64url(globalThis.crypto.getRandomValues(new Uint8Array(LEAF_BYTES)));
}

/** The leaf's bytes, or undefined when the text is not a 43-character base64url leaf. */
export function parseLeaf(text: string): Uint8Array | undefined {
  if (text.length !== LEAF_TEXT_LENGTH) return undefined;
  const bytes = base64urlToBytes(text);
  return bytes && bytes.length === LEAF_BYTES ? bytes : undefined;
}

async function hkdf(hash: 'SHA-256' | 'SHA-512', ikm: Uint8Array, info: Uint8Array, bytes: number): Promise<Uint8Array> {
  const key = await subtle().importKey('raw', bufferSource(ikm), 'HKDF', false, ['deriveBits']);
  return new Uint8Array(await subtle().deriveBits({ name: 'HKDF', hash, salt: bufferSource(utf8('studioline')), info: bufferSource(info) }, key, bytes * 8));
}

/** The id the servers route a call by: 22 base64url characters. */
export async function deriveLineId(leaf: Uint8Array): Promise<string> {
  return bytesToBase64url(await hkdf('SHA-256', leaf, utf8('studioline line id v1'), LINE_ID_BYTES));
}

/**
 * The SFrame base key of one sender's stream: RFC 9605 §4.4.1 forbids sharing a base key between
 * senders, so each KID gets its own, derived from the leaf. The KID is the sender id on the full
 * layer (the key every full-rate frame has always had) and layer x 2^48 + sender id on another
 * (wire-frame.ts), so each layer of a sender is its own stream with its own key.
 */
export async function deriveSenderBaseKey(leaf: Uint8Array, kid: bigint): Promise<Uint8Array> {
  const id = new Uint8Array(8);
  new DataView(id.buffer).setBigUint64(0, kid);
  return hkdf('SHA-512', leaf, concatBytes(utf8('studioline sender base key v1'), id), 32);
}

/** Sender ids are 48 random bits, fresh for every connection, so (key, counter) never repeats. */
export const SENDER_ID_BITS = 48;

export function randomSenderId(): bigint {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(6));
  let id = 0n;
  for (const b of bytes) id = (id << 8n) | BigInt(b);
  return id === 0n ? 1n : id;
}

/** Sender ids travel in control messages as lowercase hex. */
export function senderIdToText(id: bigint): string {
  return id.toString(16);
}

export function senderIdFromText(text: unknown): bigint | undefined {
  if (typeof text !== 'string' || !/^[0-9a-f]{1,12}$/.test(text)) return undefined;
  const id = BigInt('0x' + text);
  return id === 0n ? undefined : id;
}
