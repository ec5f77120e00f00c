/**
 * The call worker's side of membership (issue 14): on a link with `host=` the worker runs a
 * MemberCall (the same core the Node peer runs, member-call.ts) and this passes what its membership
 * says to the page (the roster with names and colours, each move's new link, an exclusion, the
 * refused messages) and runs the host's actions the page asks for.
 */
import { MemberCall } from '../../src/member-call.js';
import type { Membership } from '../../src/membership.js';
import type { RosterEntry } from '../../src/roster.js';
import { SessionIdentity, createIdentity } from '../../src/session-identity.js';
import type { MemberCommand, MemberInit, MemberReport, MemberView } from './member-messages.js';

/** This page's session keys: made in the worker (the HPKE key pair never leaves it); the host's signing pair comes from the page. */
export function memberIdentity(init: MemberInit): Promise<SessionIdentity> {
  return createIdentity(init.name, { ...(init.colour !== undefined ? { colour: init.colour } : {}), ...(init.signing ? { signing: init.signing } : {}) });
}

export class MemberSession {
  private readonly membership: Membership;

  constructor(call: MemberCall, private readonly report: (report: MemberReport) => void) {
    const m = (this.membership = call.membership);
    const stats = () => report({ kind: 'stats', stats: structuredClone(m.stats) });
    m.on('roster', (entries) => this.roster(entries));
    m.on('moved', ({ text, reason, gone }) => {
      report({ kind: 'moved', text, reason, gone });
      stats();
    });
    m.on('excluded', ({ reason }) => {
      report({ kind: 'excluded', reason });
      stats();
    });
    m.on('rejected', stats);
    m.on('admitted', stats);
    m.on('epoch', () => {
      stats();
      // A promotion changes who may act (the page shows or hides its host controls).
      this.roster(m.roster.list());
    });
    stats();
  }

  private roster(entries: RosterEntry[]): void {
    const members: MemberView[] = entries.map((e) => ({
      id: e.id,
      name: e.name,
      ...(e.colour !== undefined ? { colour: e.colour } : {}),
      role: e.role,
      admitted: e.admitted,
      you: e.id === this.membership.id,
      senders: [...e.presence.values()],
    }));
    this.report({ kind: 'roster', members, canAct: this.membership.canAct });
  }

  /** Runs a host action; how it went comes back as an `action` report (a refusal says why). */
  async command({ action, id }: MemberCommand): Promise<void> {
    try {
      if (action === 'exclude') await this.membership.exclude(id);
      else await this.membership.promote(id);
      this.report({ kind: 'action', action, id });
    } catch (err) {
      this.report({ kind: 'action', action, id, error: (err as Error).message });
    }
    this.roster(this.membership.roster.list());
  }
}
