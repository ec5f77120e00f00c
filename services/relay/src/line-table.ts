/**
 * The lines a relay owns and their members. Relay state is soft: gateways re-announce their peers
 * when a line moves to this relay, so nothing here needs to survive a restart.
 */
import { encodeDeliverHeader, senderIdFromText } from '@studioline/protocol';

export interface Member {
  id: number;
  line: Line;
  gateway: string;
  conn: number;
  sender: string;
  /** Where this member's frames go: one target per other gateway, rebuilt when membership changes. */
  targets: DeliverTarget[];
}

export interface DeliverTarget {
  gateway: string;
  /** The bus channel of `gateway`, named once here rather than per frame. */
  channel: string;
  /** The other members' connections on `gateway`. */
  conns: number[];
  /** The DELIVER header for this member's frames to `gateway`, encoded once (sentAt stamped per frame). */
  header: Buffer;
}

export interface Line {
  id: string;
  capacity: number;
  members: Member[];
}

export class LineTable {
  /** @param channelOf the bus channel of a gateway */
  constructor(private readonly channelOf: (gateway: string) => string) {}

  private readonly lines = new Map<string, Line>();
  private readonly members = new Map<number, Member>();
  private nextMember = 1;

  get lineCount(): number {
    return this.lines.size;
  }
  get memberCount(): number {
    return this.members.size;
  }

  member(id: number): Member | undefined {
    return this.members.get(id);
  }

  find(gateway: string, conn: number, lineId: string): Member | undefined {
    return this.lines.get(lineId)?.members.find((m) => m.gateway === gateway && m.conn === conn);
  }

  /** True when a member of the line already sends with this sender id (as a number: "0a" is "a"). */
  senderTaken(lineId: string, sender: string): boolean {
    const id = senderIdFromText(sender);
    return this.lines.get(lineId)?.members.some((m) => senderIdFromText(m.sender) === id) ?? false;
  }

  /** Adds a member; returns undefined when the line is full (unless `force`, for re-announced peers). */
  add(lineId: string, capacity: number, gateway: string, conn: number, sender: string, force: boolean): Member | undefined {
    let line = this.lines.get(lineId);
    if (!line) {
      line = { id: lineId, capacity, members: [] };
      this.lines.set(lineId, line);
    }
    if (line.members.length >= line.capacity && !force) return undefined;
    const member: Member = { id: this.nextMember++, line, gateway, conn, sender, targets: [] };
    if (this.nextMember > 0xffffffff) this.nextMember = 1;
    line.members.push(member);
    this.members.set(member.id, member);
    this.rebuildTargets(line);
    return member;
  }

  remove(member: Member): void {
    const line = member.line;
    line.members = line.members.filter((m) => m !== member);
    this.members.delete(member.id);
    if (line.members.length === 0) this.lines.delete(line.id);
    else this.rebuildTargets(line);
  }

  /** Every member on a gateway that is gone. */
  membersOfGateways(alive: ReadonlySet<string>): Member[] {
    return [...this.members.values()].filter((m) => !alive.has(m.gateway));
  }

  /** Where `member`'s frames go to reach `listeners` (all but itself): one target per gateway. */
  targetsTo(member: Member, listeners: readonly Member[]): DeliverTarget[] {
    const byGateway = new Map<string, number[]>();
    for (const other of listeners) {
      if (other === member) continue;
      const conns = byGateway.get(other.gateway) ?? [];
      conns.push(other.conn);
      byGateway.set(other.gateway, conns);
    }
    return [...byGateway].map(([gateway, conns]) => ({ gateway, channel: this.channelOf(gateway), conns, header: encodeDeliverHeader(conns) }));
  }

  private rebuildTargets(line: Line): void {
    for (const member of line.members) member.targets = this.targetsTo(member, line.members);
  }
}
