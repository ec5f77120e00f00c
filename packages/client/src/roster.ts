/**
 * The roster of a line with membership (issue 14): who is there, as each member said it (its
 * self-signed ROSTER message), and on which session of which line. A member is its signing key (its
 * identity); a reconnect or a move to a new line gives it another sender id, not another identity.
 * Roles are never what a member claims: the host is the key in the link, admins are those the
 * host (or an admin) promoted (membership.ts).
 */
import { bytesToBase64url } from '@studioline/protocol';

export type Role = 'host' | 'admin' | 'member';

export interface RosterEntry {
  /** The signing public key, base64url: the member's identity. */
  id: string;
  signPub: Uint8Array;
  hpkePub: Uint8Array;
  name: string;
  colour?: number;
  role: Role;
  /** Admitted to the current epoch (it holds the key the audio is under). */
  admitted: boolean;
  /** Its sessions: line id -> sender id (text). */
  presence: Map<string, string>;
}

export function identityOf(signPub: Uint8Array): string {
  return bytesToBase64url(signPub);
}

export class Roster {
  private readonly entries = new Map<string, RosterEntry>();

  get(id: string): RosterEntry | undefined {
    return this.entries.get(id);
  }

  list(): RosterEntry[] {
    return [...this.entries.values()];
  }

  /** Adds or updates a member from its ROSTER message, seen on `line` from `sender`. */
  upsert(fields: { signPub: Uint8Array; hpkePub: Uint8Array; name: string; colour?: number }, line: string, sender: string, role: Role): RosterEntry {
    const id = identityOf(fields.signPub);
    let entry = this.entries.get(id);
    if (!entry) this.entries.set(id, (entry = { id, signPub: fields.signPub, hpkePub: fields.hpkePub, name: fields.name, role, admitted: false, presence: new Map() }));
    entry.hpkePub = fields.hpkePub;
    entry.name = fields.name;
    if (fields.colour === undefined) delete entry.colour;
    else entry.colour = fields.colour;
    entry.role = role;
    entry.presence.set(line, sender);
    return entry;
  }

  /** The member a sender id on `line` is, if it said. */
  bySender(line: string, sender: string): RosterEntry | undefined {
    for (const entry of this.entries.values()) if (entry.presence.get(line) === sender) return entry;
    return undefined;
  }

  /** A sender left `line`; returns the member it was. */
  left(line: string, sender: string): RosterEntry | undefined {
    const entry = this.bySender(line, sender);
    entry?.presence.delete(line);
    return entry;
  }

  /** Forgets everything about a line (this session left it). */
  leftLine(line: string): void {
    for (const entry of this.entries.values()) entry.presence.delete(line);
  }

  /** A member by name (exact) or by the start of its id (at least 4 characters); undefined when none or several match. */
  find(nameOrId: string): RosterEntry | undefined {
    const byName = this.list().filter((e) => e.name === nameOrId);
    if (byName.length === 1) return byName[0];
    if (byName.length > 1 || nameOrId.length < 4) return undefined;
    const byId = this.list().filter((e) => e.id.startsWith(nameOrId));
    return byId.length === 1 ? byId[0] : undefined;
  }

  remove(id: string): void {
    this.entries.delete(id);
  }
}
