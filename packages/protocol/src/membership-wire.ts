/**
 * Membership messages (issue 14): the one place for their byte layout.
 *
 * On the wire a membership message is a wire frame like audio (wire-frame.ts): a level byte (127,
 * silence) and an SFrame ciphertext, but on the sender's CONTROL stream:
 *
 *   KID = CONTROL_KID_TAG x 2^48 + sender id        (a 7-byte KID starting 0x40)
 *
 * The gateway checks that the sender id is the peer's own (as for audio), the relay forwards the
 * frame to every other member of the line (no layer, no loudest-speaker selection), and neither can
 * read it: its base key comes from the link's leaf (keys.ts, deriveSenderBaseKey), which the servers
 * never see. Audio layers are 0 and 1; 0x40 leaves room for more layers below it.
 *
 * The SFrame plaintext is one message: [version=1][kind][body]. Integers are big-endian.
 *
 *   ROSTER   (self-signed)  sender(6) signPub(32) hpkePub(32) colour(3) flags(1) nameLen(1) name sig(64)
 *            flags bit 0: colour given. A member says who it is; roles are never claimed here.
 *   BYE      (self-signed)  sender(6) signPub(32) sig(64)          leaving: the host rekeys at once
 *   JOIN     (authority)    epoch(4) signerPub(32) joinerSignPub(32) enc(32) ctLen(2) ct sig(64)
 *            members ratchet the epoch secret (membership-keys.ts); ct is HPKE to the joiner of
 *            [epochSecret(32)][admins(1)][adminSignPub(32) x admins]
 *   REKEY    (authority)    epoch(4) signerPub(32) goneSignPub(32) reason(1) count(1)
 *                           count x [signPub(32) enc(32) ctLen(2) ct]  sig(64)
 *            each ct is HPKE to that member alone of [newLeaf(32)][epochSecret(32)];
 *            reason: 1 excluded, 2 left
 *   PROMOTE  (authority)    epoch(4) signerPub(32) promotedSignPub(32) sig(64)
 *
 * Self-signed messages are signed by the member's own Ed25519 key; authority messages by the host
 * (whose public key is in the link, `host=`) or a member the host promoted. Every signature covers
 * SIGNATURE_CONTEXT, the line id the message travels on, and every byte of the message before the
 * signature, so a message cannot be moved to another line, cut short or changed. Authority
 * messages carry the epoch they create: each one moves the epoch on by exactly one, so a replayed
 * one is stale and refused.
 */
import { concatBytes, utf8 } from './bytes.js';

export const MEMBERSHIP_VERSION = 1;
/** The CONTROL stream's KID tag (the KID's seventh byte from the right). */
export const CONTROL_KID_TAG = 0x40;
/** The audio level byte of a control frame: silence (it never competes for a speaker's seat). */
export const CONTROL_LEVEL = 127;

export const SIGN_PUBLIC_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const HPKE_PUBLIC_BYTES = 32;
export const HPKE_ENC_BYTES = 32;
export const EPOCH_SECRET_BYTES = 32;
export const SENDER_BYTES = 6;
/** The longest display name, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 64;
/** The most members a rekey names (a line's most peers, control.ts MAX_LINE_PEERS). */
export const MAX_REKEY_RECIPIENTS = 64;
/** What every membership signature starts with (domain separation from any other use of the key). */
export const SIGNATURE_CONTEXT = 'studioline membership v1';

export const KIND = { roster: 1, bye: 2, join: 3, rekey: 4, promote: 5 } as const;
export type MembershipKind = keyof typeof KIND;
export const REKEY_REASON = { excluded: 1, left: 2 } as const;
export type RekeyReason = keyof typeof REKEY_REASON;

const SENDER_SPAN = 1n << 48n;

/** The KID of a sender's control stream. */
export function controlKid(senderId: bigint): bigint {
  return BigInt(CONTROL_KID_TAG) * SENDER_SPAN + senderId;
}

/** The sender id of a control frame (wire frame: level byte + SFrame), or -1 when it is not one. */
export function wireControlSender(frame: Uint8Array): number {
  // config byte: KID of 7 bytes (0x80 | 6 << 4) and any counter length.
  if (frame.length < 1 + 1 + 7 + 16 || frame[0] > 127 || (frame[1] & 0xf0) !== 0xe0 || frame[2] !== CONTROL_KID_TAG) return -1;
  let id = 0;
  for (let i = 3; i < 9; i++) id = id * 256 + frame[i];
  return id;
}

export interface RosterBody { sender: bigint; signPub: Uint8Array; hpkePub: Uint8Array; colour?: number; name: string }
export interface ByeBody { sender: bigint; signPub: Uint8Array }
export interface Sealed { enc: Uint8Array; ct: Uint8Array }
export interface JoinBody { epoch: number; signerPub: Uint8Array; joinerSignPub: Uint8Array; welcome: Sealed }
export interface RekeyRecipient extends Sealed { signPub: Uint8Array }
export interface RekeyBody { epoch: number; signerPub: Uint8Array; goneSignPub: Uint8Array; reason: RekeyReason; recipients: RekeyRecipient[] }
export interface PromoteBody { epoch: number; signerPub: Uint8Array; promotedSignPub: Uint8Array }

export type MembershipMessage =
  | ({ kind: 'roster' } & RosterBody)
  | ({ kind: 'bye' } & ByeBody)
  | ({ kind: 'join' } & JoinBody)
  | ({ kind: 'rekey' } & RekeyBody)
  | ({ kind: 'promote' } & PromoteBody);

/** A decoded message, the bytes its signature covers (without the context and line) and the signature. */
export interface SignedMessage {
  message: MembershipMessage;
  signed: Uint8Array;
  signature: Uint8Array;
}

/** The bytes a signature covers: the context, the line id, the message up to its signature. */
export function signatureInput(lineId: string, signed: Uint8Array): Uint8Array {
  return concatBytes(utf8(SIGNATURE_CONTEXT), Uint8Array.of(0), utf8(lineId), Uint8Array.of(0), signed);
}

class Writer {
  private readonly parts: Uint8Array[] = [];
  u8(v: number): this { this.parts.push(Uint8Array.of(v & 0xff)); return this; }
  u16(v: number): this { this.parts.push(Uint8Array.of((v >> 8) & 0xff, v & 0xff)); return this; }
  u32(v: number): this { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v); this.parts.push(b); return this; }
  sender(id: bigint): this { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, id); this.parts.push(b.subarray(2)); return this; }
  bytes(b: Uint8Array, length?: number): this {
    if (length !== undefined && b.length !== length) throw new RangeError(`expected ${length} bytes, got ${b.length}`);
    this.parts.push(b);
    return this;
  }
  done(): Uint8Array { return concatBytes(...this.parts); }
}

/** The unsigned bytes of a message (its signature is appended by the caller). */
export function encodeUnsigned(m: MembershipMessage): Uint8Array {
  const w = new Writer().u8(MEMBERSHIP_VERSION).u8(KIND[m.kind]);
  switch (m.kind) {
    case 'roster': {
      const name = utf8(m.name);
      if (name.length > MAX_NAME_BYTES) throw new RangeError(`a name is at most ${MAX_NAME_BYTES} bytes of UTF-8`);
      const colour = m.colour ?? 0;
      return w.sender(m.sender).bytes(m.signPub, SIGN_PUBLIC_BYTES).bytes(m.hpkePub, HPKE_PUBLIC_BYTES)
        .u8(colour >> 16).u8(colour >> 8).u8(colour).u8(m.colour === undefined ? 0 : 1).u8(name.length).bytes(name).done();
    }
    case 'bye':
      return w.sender(m.sender).bytes(m.signPub, SIGN_PUBLIC_BYTES).done();
    case 'join':
      return w.u32(m.epoch).bytes(m.signerPub, SIGN_PUBLIC_BYTES).bytes(m.joinerSignPub, SIGN_PUBLIC_BYTES)
        .bytes(m.welcome.enc, HPKE_ENC_BYTES).u16(m.welcome.ct.length).bytes(m.welcome.ct).done();
    case 'rekey': {
      if (m.recipients.length > MAX_REKEY_RECIPIENTS) throw new RangeError('too many recipients');
      w.u32(m.epoch).bytes(m.signerPub, SIGN_PUBLIC_BYTES).bytes(m.goneSignPub, SIGN_PUBLIC_BYTES).u8(REKEY_REASON[m.reason]).u8(m.recipients.length);
      for (const r of m.recipients) w.bytes(r.signPub, SIGN_PUBLIC_BYTES).bytes(r.enc, HPKE_ENC_BYTES).u16(r.ct.length).bytes(r.ct);
      return w.done();
    }
    case 'promote':
      return w.u32(m.epoch).bytes(m.signerPub, SIGN_PUBLIC_BYTES).bytes(m.promotedSignPub, SIGN_PUBLIC_BYTES).done();
  }
}

/** Reads fields in order; every read past the end throws, so a truncated message never parses. */
class Reader {
  private pos = 0;
  constructor(private readonly b: Uint8Array) {}
  private take(n: number): Uint8Array {
    if (this.pos + n > this.b.length) throw new RangeError('truncated');
    const out = this.b.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  u8(): number { return this.take(1)[0]; }
  u16(): number { const b = this.take(2); return (b[0] << 8) | b[1]; }
  u32(): number { const b = this.take(4); return new DataView(b.buffer).getUint32(0); }
  sender(): bigint { let v = 0n; for (const x of this.take(SENDER_BYTES)) v = (v << 8n) | BigInt(x); return v; }
  bytes(n: number): Uint8Array { return this.take(n); }
  get offset(): number { return this.pos; }
  get rest(): number { return this.b.length - this.pos; }
}

/** Decodes a message; undefined when it is malformed or truncated (or has bytes left over). */
export function decodeMembership(bytes: Uint8Array): SignedMessage | undefined {
  try {
    const r = new Reader(bytes);
    if (r.u8() !== MEMBERSHIP_VERSION) return undefined;
    const kind = r.u8();
    let message: MembershipMessage;
    if (kind === KIND.roster) {
      const sender = r.sender();
      const signPub = r.bytes(SIGN_PUBLIC_BYTES);
      const hpkePub = r.bytes(HPKE_PUBLIC_BYTES);
      const colour = (r.u8() << 16) | (r.u8() << 8) | r.u8();
      const flags = r.u8();
      const nameLength = r.u8();
      if (nameLength > MAX_NAME_BYTES || flags > 1) return undefined;
      const name = new TextDecoder('utf-8', { fatal: true }).decode(r.bytes(nameLength));
      message = { kind: 'roster', sender, signPub, hpkePub, name, ...(flags & 1 ? { colour } : {}) };
    } else if (kind === KIND.bye) {
      message = { kind: 'bye', sender: r.sender(), signPub: r.bytes(SIGN_PUBLIC_BYTES) };
    } else if (kind === KIND.join) {
      const epoch = r.u32();
      const signerPub = r.bytes(SIGN_PUBLIC_BYTES);
      const joinerSignPub = r.bytes(SIGN_PUBLIC_BYTES);
      const enc = r.bytes(HPKE_ENC_BYTES);
      const ct = r.bytes(r.u16());
      message = { kind: 'join', epoch, signerPub, joinerSignPub, welcome: { enc, ct } };
    } else if (kind === KIND.rekey) {
      const epoch = r.u32();
      const signerPub = r.bytes(SIGN_PUBLIC_BYTES);
      const goneSignPub = r.bytes(SIGN_PUBLIC_BYTES);
      const reasonByte = r.u8();
      const reason = (Object.keys(REKEY_REASON) as RekeyReason[]).find((k) => REKEY_REASON[k] === reasonByte);
      const count = r.u8();
      if (!reason || count > MAX_REKEY_RECIPIENTS) return undefined;
      const recipients: RekeyRecipient[] = [];
      for (let i = 0; i < count; i++) recipients.push({ signPub: r.bytes(SIGN_PUBLIC_BYTES), enc: r.bytes(HPKE_ENC_BYTES), ct: r.bytes(r.u16()) });
      message = { kind: 'rekey', epoch, signerPub, goneSignPub, reason, recipients };
    } else if (kind === KIND.promote) {
      message = { kind: 'promote', epoch: r.u32(), signerPub: r.bytes(SIGN_PUBLIC_BYTES), promotedSignPub: r.bytes(SIGN_PUBLIC_BYTES) };
    } else return undefined;
    const signedLength = r.offset;
    const signature = r.bytes(SIGNATURE_BYTES);
    if (r.rest !== 0) return undefined;
    return { message, signed: bytes.slice(0, signedLength), signature };
  } catch {
    return undefined;
  }
}

/** The public key that must have signed a message: the member itself, or the authority named in it. */
export function signerOf(m: MembershipMessage): Uint8Array {
  return m.kind === 'roster' || m.kind === 'bye' ? m.signPub : m.signerPub;
}
