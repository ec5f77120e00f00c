/**
 * The rules of SIP extensions (the SIP bridge's phone accounts), kept like API keys: a password is
 * shown once (generated unless given) and stored only as its digest HA1 for the realm; each change
 * is audited. The bridge reads the store on every REGISTER and INVITE, so a deleted extension or a
 * new password holds for the phone's next request (a registration already granted runs out by
 * itself; it lets nothing in without a fresh digest).
 */
import { Backend, SipAccountRecord, checkSipAccount, checkSipPassword, generateSipPassword, sipDigestHa1 } from '@studioline/server-kit';

export class SipExtensionNotFoundError extends Error {
  readonly code = 'not_found';
  constructor(extension: string) {
    super(`no SIP extension ${extension}`);
  }
}

/** What the API shows of an extension: never the password, never its digest. */
export interface PublicSipExtension {
  extension: string;
  line: string;
  name: string;
  realm: string;
  createdAt: string;
  source?: string;
}

export function toPublicExtension(r: SipAccountRecord): PublicSipExtension {
  return { extension: r.extension, line: r.line, name: r.name, realm: r.realm, createdAt: new Date(r.createdAt).toISOString(), ...(r.source ? { source: r.source } : {}) };
}

/** An extension as a labelled Kubernetes Secret describes it (its password already digested). */
export interface MirroredExtension {
  source: string;
  extension: string;
  line: string;
  name: string;
  ha1: string;
}

export class SipExtensionService {
  constructor(
    private readonly backend: Backend,
    /** The realm phones authenticate in (SIP_REALM): the HA1s are computed for it. */
    readonly realm: string,
  ) {}

  /** Creates (or replaces) an extension bound to `line`; returns the password, shown this once. */
  async create(input: { extension: string; line: string; name?: string; password?: string }, actor: string): Promise<{ extension: PublicSipExtension; password: string }> {
    checkSipAccount(input);
    const password = input.password ?? generateSipPassword();
    const record: SipAccountRecord = {
      extension: input.extension,
      ha1: sipDigestHa1(input.extension, this.realm, password),
      realm: this.realm,
      line: input.line,
      name: input.name?.trim() || input.extension,
      createdAt: Date.now(),
      source: 'api',
    };
    await this.backend.sipAccounts.put(record);
    await this.audit('sip_create', record.extension, actor, `line ${record.line}`);
    return { extension: toPublicExtension(record), password };
  }

  async list(): Promise<PublicSipExtension[]> {
    return (await this.backend.sipAccounts.list()).map(toPublicExtension);
  }

  async get(extension: string): Promise<PublicSipExtension> {
    return toPublicExtension(await this.find(extension));
  }

  /** Removes an extension: its phone's next REGISTER or INVITE is refused. */
  async remove(extension: string, actor: string): Promise<PublicSipExtension> {
    const record = await this.find(extension);
    await this.backend.sipAccounts.remove(extension);
    await this.audit('sip_delete', extension, actor);
    return toPublicExtension(record);
  }

  /** A new password (generated unless given); the old one stops working at the phone's next request. */
  async setPassword(extension: string, password: string | undefined, actor: string): Promise<{ extension: PublicSipExtension; password: string }> {
    checkSipPassword(password);
    const record = await this.find(extension);
    const chosen = password ?? generateSipPassword();
    record.ha1 = sipDigestHa1(extension, this.realm, chosen);
    record.realm = this.realm;
    await this.backend.sipAccounts.put(record);
    await this.audit('sip_password', extension, actor);
    return { extension: toPublicExtension(record), password: chosen };
  }

  /**
   * Makes the extensions mirrored from sources starting with `prefix` (a namespace's Secrets)
   * match `wanted` exactly; extensions whose Secret is gone are removed. An extension made through
   * the API is never taken over by a Secret (a warning is the caller's).
   */
  async resync(prefix: string, wanted: MirroredExtension[]): Promise<string[]> {
    const records = await this.backend.sipAccounts.list();
    const conflicts: string[] = [];
    for (const w of wanted) {
      const existing = records.find((r) => r.extension === w.extension);
      if (existing && existing.source !== w.source) {
        conflicts.push(w.extension);
        continue;
      }
      await this.syncOne(w, existing);
    }
    const keep = new Set(wanted.map((w) => w.source));
    for (const r of records) {
      if (r.source?.startsWith(prefix) && !keep.has(r.source)) {
        await this.backend.sipAccounts.remove(r.extension);
        await this.audit('sip_delete', r.extension, 'k8s-secret-sync');
      }
    }
    return conflicts;
  }

  private async syncOne(w: MirroredExtension, existing: SipAccountRecord | undefined): Promise<void> {
    if (existing && existing.ha1 === w.ha1 && existing.line === w.line && existing.name === w.name && existing.realm === this.realm) return;
    await this.backend.sipAccounts.put({ extension: w.extension, ha1: w.ha1, realm: this.realm, line: w.line, name: w.name, createdAt: existing?.createdAt ?? Date.now(), source: w.source });
    await this.audit(existing ? 'sip_sync' : 'sip_create', w.extension, 'k8s-secret-sync', `line ${w.line}`);
  }

  private async find(extension: string): Promise<SipAccountRecord> {
    const record = await this.backend.sipAccounts.get(extension);
    if (!record) throw new SipExtensionNotFoundError(extension);
    return record;
  }

  private audit(action: 'sip_create' | 'sip_delete' | 'sip_password' | 'sip_sync', extension: string, actor: string, detail?: string) {
    return this.backend.keys.appendAudit({ at: Date.now(), action, keyId: `sip:${extension}`, actor, detail });
  }
}
