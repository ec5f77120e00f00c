import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { SipMessage } from 'sip';
import { DigestAuth, NONCE_LIFETIME_MS } from '../src/digest-auth.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const REALM = 'studioline';

/** What a phone sends: RFC 2617 with qop=auth, computed here independently of the bridge's code. */
function register(auth: DigestAuth, user: string, password: string, nonce?: string): SipMessage {
  const challenge = (auth.challenge()['www-authenticate'] as { nonce: string }[])[0];
  const n = nonce ?? challenge.nonce.slice(1, -1);
  const uri = 'sip:127.0.0.1';
  const ha1 = md5(`${user}:${REALM}:${password}`);
  const response = md5(`${ha1}:${n}:00000001:abc:auth:${md5(`REGISTER:${uri}`)}`);
  return {
    method: 'REGISTER',
    uri,
    headers: {
      authorization: [{ scheme: 'Digest', username: `"${user}"`, realm: `"${REALM}"`, nonce: `"${n}"`, uri: `"${uri}"`, response: `"${response}"`, qop: 'auth', nc: '00000001', cnonce: '"abc"', algorithm: 'MD5' }],
    } as unknown as SipMessage['headers'],
  };
}

describe('SIP digest authentication', () => {
  // The bridge holds HA1 digests, never passwords (phone-accounts.ts).
  const account = { user: '1001', ha1: md5(`1001:${REALM}:phone-secret-1001`) };
  const accounts = async (u: string) => (u === account.user ? account : undefined);

  it('accepts the right password and tells a wrong one, an unknown account and no credentials apart', async () => {
    const auth = new DigestAuth(REALM, accounts);
    assert.deepEqual(await auth.verify(register(auth, '1001', 'phone-secret-1001')), { ok: true, user: '1001', account });
    assert.deepEqual(await auth.verify(register(auth, '1001', 'wrong')), { ok: false, reason: 'bad_password' });
    assert.deepEqual(await auth.verify(register(auth, '9999', 'phone-secret-1001')), { ok: false, reason: 'unknown_user' });
    assert.deepEqual(await auth.verify({ method: 'REGISTER', headers: {} } as unknown as SipMessage), { ok: false, reason: 'missing' });
  });

  it('takes only nonces it issued, for their lifetime: an old or forged one is stale (the phone retries with a new one)', async () => {
    let now = 1_000_000;
    const auth = new DigestAuth(REALM, accounts, () => now);
    const rq = register(auth, '1001', 'phone-secret-1001');
    now += NONCE_LIFETIME_MS + 1;
    assert.deepEqual(await auth.verify(rq), { ok: false, reason: 'stale' });
    const other = new DigestAuth(REALM, accounts, () => now);
    assert.deepEqual(await auth.verify(register(other, '1001', 'phone-secret-1001')), { ok: false, reason: 'stale' }, 'another process\'s nonce');
    assert.equal((auth.challenge(true)['www-authenticate'] as { stale?: string }[])[0].stale, 'true');
  });
});
