/**
 * Where the bridge finds a phone's account: the extensions keys-admin keeps in Redis (each bound to
 * one line), and, as a development option, the `phones` of the static directory file. Either way
 * the bridge holds only the digest HA1 of the password (a static password is digested at load).
 * Redis is read on every REGISTER and INVITE, so a deleted extension or a new password holds from
 * the phone's next request.
 */
import { Logger, SipAccountStore, sipDigestHa1 } from '@studioline/server-kit';
import { Directory } from './directory.js';

export interface PhoneAccount {
  user: string;
  /** Hex MD5 of user:realm:password. */
  ha1: string;
  /** The one line number this account may dial; undefined: any line of the directory (static phones). */
  line?: string;
}

/** The account store could not be read (Redis down): the request is answered 503, not refused. */
export class AccountStoreUnavailable extends Error {
  readonly code = 'unavailable';
}

export class PhoneAccounts {
  private readonly fixed = new Map<string, PhoneAccount>();
  private realmWarned = false;

  constructor(
    private readonly realm: string,
    directory: Directory,
    private readonly store: SipAccountStore | undefined,
    private readonly logger: Logger,
  ) {
    for (const phone of directory.phones.values()) this.fixed.set(phone.user, { user: phone.user, ha1: sipDigestHa1(phone.user, realm, phone.password), line: phone.line });
  }

  async lookup(user: string): Promise<PhoneAccount | undefined> {
    const fixed = this.fixed.get(user);
    if (fixed || !this.store) return fixed;
    let record;
    try {
      record = await this.store.get(user);
    } catch (err) {
      throw new AccountStoreUnavailable(`the extensions cannot be read: ${(err as Error).message}`);
    }
    if (!record) return undefined;
    if (record.realm !== this.realm) {
      // Digested for another realm (SIP_REALM differs between keys-admin and the bridge): no
      // password can match it. Said once, loudly, rather than per phone.
      if (!this.realmWarned) this.logger.error({ extension: user, storedRealm: record.realm.slice(0, 64), realm: this.realm }, 'a SIP extension was stored for another realm: set the same SIP_REALM for keys-admin and the bridge, then set its password again');
      this.realmWarned = true;
      return undefined;
    }
    return { user, ha1: record.ha1, line: record.line };
  }
}
