/**
 * The lines a relay owns and their members. Relay state is soft: gateways re-announce their peers
 * when a line moves to this relay, so nothing here needs to survive a restart.
 */
import { LAYER_COUNT, LAYER_FULL, senderIdFromText } from '@studioline/protocol';
import { routeSender, targetsByGateway } from './layer-routing.js';

export interface Member {
  id: number;
  line: Line;
  gateway: string;
  conn: number;
  sender: string;
  /** Every other member's gateway (membership events go there), rebuilt when membership changes. */
  targets: DeliverTarget[];
  /** The layers it sends, a bit mask (bit n: layer n; layer-routing.ts). */
  layers: number;
  /** The best layer it asked for at its join, and the best it gets now (a step-down lowers only the latter). */
  wanted: number;
  ceiling: number;
  /** Where its frames of each layer go (layer-routing.ts), rebuilt when membership or a ceiling changes. */
  layerTargets: DeliverTarget[][];
  /** Per layer, receivers that miss each of its frames of that layer (no layer of it suits them). */
  missed: number[];
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

  /**
   * Adds a member that sends `layers` (a bit mask) and wants `receive` at best; returns undefined
   * when the line is full (unless `force`, for re-announced peers).
   */
  add(lineId: string, capacity: number, gateway: string, conn: number, sender: string, force: boolean, layers = 1 << LAYER_FULL, receive = LAYER_FULL, ceiling = receive): Member | undefined {
    let line = this.lines.get(lineId);
    if (!line) {
      line = { id: lineId, capacity, members: [] };
      this.lines.set(lineId, line);
    }
    if (line.members.length >= line.capacity && !force) return undefined;
    // From a gateway's JSON: anything but a known mask or layer counts as a peer from before layers.
    if (!Number.isInteger(layers) || layers <= 0 || layers >= 1 << LAYER_COUNT) layers = 1 << LAYER_FULL;
    if (!Number.isInteger(receive) || receive < 0 || receive >= LAYER_COUNT) receive = LAYER_FULL;
    // A re-announced peer its gateway had stepped down stays down (never above what it asked for).
    if (!Number.isInteger(ceiling) || ceiling < receive || ceiling >= LAYER_COUNT) ceiling = receive;
    const member: Member = { id: this.nextMember++, line, gateway, conn, sender, targets: [], layers, wanted: receive, ceiling, layerTargets: [], missed: [] };
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

  /**
   * Sets the best layer `member` receives (never above what it asked for at its join) and reroutes
   * its line; false when nothing changed (or `ceiling` is no layer). Its gateway's step-down
   * (layer-routing.ts).
   */
  setCeiling(member: Member, ceiling: number): boolean {
    if (!Number.isInteger(ceiling) || ceiling < 0 || ceiling >= LAYER_COUNT) return false;
    const next = Math.max(ceiling, member.wanted);
    if (next === member.ceiling) return false;
    member.ceiling = next;
    this.rebuildTargets(member.line);
    return true;
  }

  /** Every member on a gateway that is gone. */
  membersOfGateways(alive: ReadonlySet<string>): Member[] {
    return [...this.members.values()].filter((m) => !alive.has(m.gateway));
  }

  /** Where `member`'s frames of `layer` go to reach `listeners` only: those of them that get that layer of it. */
  layerTargetsTo(member: Member, listeners: readonly Member[], layer: number): DeliverTarget[] {
    return routeSender(member, listeners, this.channelOf).byLayer[layer] ?? [];
  }

  private rebuildTargets(line: Line): void {
    for (const member of line.members) {
      member.targets = targetsByGateway(line.members.filter((m) => m !== member), this.channelOf);
      const routes = routeSender(member, line.members, this.channelOf);
      member.layerTargets = routes.byLayer;
      member.missed = routes.missed;
    }
  }
}
