/**
 * Who this session is on a line with membership (issue 14): an Ed25519 key pair that signs what it
 * says (its roster entry, and as host or promoted peer the membership changes) and an X25519 key
 * pair that new epochs are sealed to (HPKE). Both are made for the session and die with it; the
 * private halves are non-extractable CryptoKeys, so nothing can print them.
 */
import { HpkeKeyPair, MAX_NAME_BYTES, SigningKeyPair, generateHpkeKeyPair, generateSigningKeyPair, utf8 } from '@studioline/protocol';

export interface SessionIdentity {
  signing: SigningKeyPair;
  hpke: HpkeKeyPair;
  /** The display name (at most MAX_NAME_BYTES of UTF-8). */
  name: string;
  /** An avatar colour, 0xRRGGBB. */
  colour?: number;
}

export class IdentityError extends Error {
  readonly code = 'bad_identity';
}

/** Checks a display name: what the roster carries. */
export function checkName(name: string): string {
  if (utf8(name).length > MAX_NAME_BYTES) throw new IdentityError(`a name is at most ${MAX_NAME_BYTES} bytes of UTF-8`);
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new IdentityError('a name has no control characters');
  return name;
}

/** A new identity; `signing`: the host's key pair, made with its link (host-link.ts). */
export async function createIdentity(name: string, options: { colour?: number; signing?: SigningKeyPair } = {}): Promise<SessionIdentity> {
  if (options.colour !== undefined && !(Number.isInteger(options.colour) && options.colour >= 0 && options.colour <= 0xffffff)) {
    throw new IdentityError('a colour is 0xRRGGBB');
  }
  const [signing, hpke] = await Promise.all([options.signing ?? generateSigningKeyPair(), generateHpkeKeyPair()]);
  return { signing, hpke, name: checkName(name), ...(options.colour !== undefined ? { colour: options.colour } : {}) };
}
