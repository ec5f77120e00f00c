/**
 * The registrar: where each phone account can be reached (its Contact), for as long as it asked
 * (bounded by SIP_MIN_EXPIRES..SIP_MAX_EXPIRES). A phone registers only its own account: the
 * authenticated user must be the To user. Bindings live in memory: a restarted bridge is
 * re-registered by every phone within its interval (phones refresh at about half of it).
 */
import type { Remote, SipMessage } from 'sip';
import { parseUri } from 'sip';

export interface Binding {
  contact: string;
  /** The transport flow the REGISTER came over (a phone behind NAT is reached back through it). */
  remote: Remote;
  expiresAt: number;
}

export type RegisterOutcome =
  | { status: 200; result: 'ok' | 'unregistered'; headers: Record<string, unknown> }
  | { status: 423; result: 'interval_too_brief'; headers: Record<string, unknown> }
  | { status: 403; result: 'forbidden'; headers: Record<string, unknown> }
  | { status: 400; result: 'malformed'; headers: Record<string, unknown> };

export class Registrar {
  private readonly bindings = new Map<string, Binding>();

  constructor(
    private readonly limits: { minExpires: number; maxExpires: number },
    private readonly now: () => number = Date.now,
  ) {}

  /** Applies an authenticated REGISTER by `user`. */
  register(request: SipMessage, remote: Remote, user: string): RegisterOutcome {
    let toUser: string | undefined;
    try {
      toUser = parseUri(request.headers.to.uri).user;
    } catch {
      return { status: 400, result: 'malformed', headers: {} };
    }
    if (toUser !== user) return { status: 403, result: 'forbidden', headers: {} };
    const contacts = request.headers.contact;
    const headerExpires = request.headers.expires === undefined ? undefined : Number(request.headers.expires);
    if (contacts === '*' || (Array.isArray(contacts) && contacts.length === 0) || contacts === undefined) {
      if (contacts === '*' && headerExpires !== 0) return { status: 400, result: 'malformed', headers: {} };
      if (contacts === '*') this.bindings.delete(user);
      return this.current(user, contacts === '*' ? 'unregistered' : 'ok');
    }
    const contact = contacts[0];
    const asked = contact.params.expires !== undefined && contact.params.expires !== null ? Number(contact.params.expires) : headerExpires ?? this.limits.maxExpires;
    if (!Number.isInteger(asked) || asked < 0) return { status: 400, result: 'malformed', headers: {} };
    if (asked === 0) {
      this.bindings.delete(user);
      return this.current(user, 'unregistered');
    }
    if (asked < this.limits.minExpires) return { status: 423, result: 'interval_too_brief', headers: { 'min-expires': this.limits.minExpires } };
    const granted = Math.min(asked, this.limits.maxExpires);
    this.bindings.set(user, { contact: contact.uri, remote, expiresAt: this.now() + granted * 1000 });
    return this.current(user, 'ok');
  }

  private current(user: string, result: 'ok' | 'unregistered'): RegisterOutcome {
    const b = this.lookup(user);
    if (!b) return { status: 200, result, headers: {} };
    const left = Math.max(0, Math.round((b.expiresAt - this.now()) / 1000));
    return { status: 200, result, headers: { contact: [{ uri: b.contact, params: { expires: String(left) } }], expires: left } };
  }

  /** The phone's binding, if it is registered now. */
  lookup(user: string): Binding | undefined {
    const b = this.bindings.get(user);
    if (b && b.expiresAt <= this.now()) {
      this.bindings.delete(user);
      return undefined;
    }
    return b;
  }

  get count(): number {
    let n = 0;
    for (const user of [...this.bindings.keys()]) if (this.lookup(user)) n++;
    return n;
  }
}
