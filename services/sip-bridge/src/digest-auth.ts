/**
 * SIP digest authentication (RFC 3261 §22, RFC 2617 MD5 with qop=auth), server side, against each
 * account's stored HA1 (never a password: phone-accounts.ts). The digest arithmetic is the `sip`
 * package's (sip/digest); the nonces are ours: stateless, an HMAC over
 * their issue time with a per-process secret, so any nonce this process issued in the last
 * {@link NONCE_LIFETIME_MS} verifies without a table to grow, and an old one is answered
 * `stale=true` (the phone retries at once with the new nonce, without asking the user).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuthHeader, SipMessage } from 'sip';
import { calculateDigest } from 'sip/digest';
import type { PhoneAccount } from './phone-accounts.js';

export const NONCE_LIFETIME_MS = 5 * 60_000;

export type AuthResult =
  | { ok: true; user: string; account: PhoneAccount }
  /** No credentials, or for another realm: challenge. */
  | { ok: false; reason: 'missing' | 'stale' | 'unknown_user' | 'bad_password' | 'malformed' };

function unquote(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

export class DigestAuth {
  private readonly secret = randomBytes(32);

  constructor(
    private readonly realm: string,
    /** The account of a user name, if there is one (its HA1 for this realm). */
    private readonly accountOf: (user: string) => Promise<PhoneAccount | undefined>,
    private readonly now: () => number = Date.now,
  ) {}

  private mac(issued: string): string {
    return createHmac('sha256', this.secret).update(issued).digest('base64url').slice(0, 22);
  }

  private nonce(): string {
    const issued = this.now().toString(36);
    return `${issued}.${this.mac(issued)}`;
  }

  /** The WWW-Authenticate header of a 401; `stale` when the phone's nonce merely expired. */
  challenge(stale = false): Record<string, unknown> {
    return {
      'www-authenticate': [{ scheme: 'Digest', realm: `"${this.realm}"`, nonce: `"${this.nonce()}"`, qop: '"auth"', algorithm: 'MD5', ...(stale ? { stale: 'true' } : {}) }],
    };
  }

  /** Checks the request's Authorization for this realm; the account is looked up only for a well-formed, fresh answer. */
  async verify(request: SipMessage): Promise<AuthResult> {
    const header = (request.headers.authorization ?? []).find((h: AuthHeader) => h.scheme.toLowerCase() === 'digest' && unquote(h.realm) === this.realm);
    if (!header) return { ok: false, reason: 'missing' };
    const user = unquote(header.username);
    const nonce = unquote(header.nonce);
    const uri = unquote(header.uri);
    const response = unquote(header.response);
    const qop = unquote(header.qop);
    const algorithm = unquote(header.algorithm);
    if (!user || !nonce || !uri || !response || (algorithm && algorithm.toUpperCase() !== 'MD5')) return { ok: false, reason: 'malformed' };
    if (qop !== undefined && qop !== 'auth') return { ok: false, reason: 'malformed' };
    const [issued, mac] = nonce.split('.');
    if (!issued || !mac || !safeEqual(mac, this.mac(issued))) return { ok: false, reason: 'stale' };
    const age = this.now() - parseInt(issued, 36);
    if (!(age >= 0 && age <= NONCE_LIFETIME_MS)) return { ok: false, reason: 'stale' };
    const account = await this.accountOf(user);
    if (account === undefined) return { ok: false, reason: 'unknown_user' };
    const expected = calculateDigest({
      ha1: account.ha1,
      method: request.method as string,
      nonce,
      uri,
      ...(qop ? { qop, nc: unquote(header.nc), cnonce: unquote(header.cnonce) } : {}),
    });
    return safeEqual(expected, response.toLowerCase()) ? { ok: true, user, account } : { ok: false, reason: 'bad_password' };
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
