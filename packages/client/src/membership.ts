/**
 * Membership of a line with a host (issue 14): the roster, the epoch secret that audio is under,
 * and the changes only the host (or a peer it promoted) may make. Shared by the page and the Node
 * peer; it talks to the line through call cores (CoreMembership) and to the UI through its events.
 *
 * What each message does (byte layout: membership-wire.ts; keys: membership-keys.ts):
 *  - ROSTER: a member says its name, colour and public keys (signed by itself). The acting
 *    authority answers a member it has not admitted with a JOIN.
 *  - JOIN: every admitted member ratchets the epoch secret forward (HKDF); the joiner gets the new
 *    one sealed to its X25519 key (HPKE). The joiner never holds an earlier epoch's secret.
 *  - REKEY (a member excluded, or gone): a fresh epoch secret and a fresh line, sealed to each
 *    remaining member alone. Every remaining member seals its audio under it at once (on the old
 *    line until it has moved: make-before-break, member-call.ts), so nothing sent after the rekey
 *    opens with any key the gone member ever had.
 *  - PROMOTE: the promoted member may act as an authority too; the epoch ratchets.
 * Authority messages are accepted only signed by the host key in the link or by a promoted member,
 * only for the very next epoch (a replay is stale), and only whole (a cut or changed message fails
 * its signature or does not parse). A refused message is counted by reason and changes nothing.
 *
 * The acting authority is the host while it is on the line, otherwise the present admin with the
 * smallest id: one member acts, so two do not make the same epoch twice.
 */
import {
  CallLink,
  EPOCH_SECRET_BYTES,
  MembershipMessage,
  OpenFailure,
  RekeyReason,
  SIGN_PUBLIC_BYTES,
  bytesToBase64url,
  concatBytes,
  decodeMembership,
  encodeUnsigned,
  formatCallLink,
  generateLeaf,
  openFrom,
  parseCallLink,
  parseLeaf,
  randomEpochSecret,
  ratchetEpoch,
  sameKey,
  sealTo,
  senderIdToText,
  sign,
  signatureInput,
  signerOf,
  utf8,
  verify,
} from '@studioline/protocol';
import type { CallCore, CoreMembership } from './call-core.js';
import { EpochOpener } from './epoch-opener.js';
import { Roster, RosterEntry, Role, identityOf } from './roster.js';
import type { SessionIdentity } from './session-identity.js';
import { TypedEvents } from './typed-events.js';

/** How long a member that dropped off the line without a BYE may take to come back before it counts as gone (ms). */
export const LEAVE_GRACE_MS = 5000;

/** Why a membership message was refused (each counted). */
export type RejectReason =
  /** did not open under the link's leaf (forged without the link, or cut short on the way) */
  | 'undecryptable'
  /** replayed frame (SFrame replay window) or authority message for an epoch already past */
  | 'replayed'
  /** did not parse (truncated, or bytes left over) */
  | 'malformed'
  /** bad signature, a sender id that is not the frame's, or signed by a key with no authority */
  | 'forged'
  /** an authority message whose sealed part for this member did not open */
  | 'unsealable';

export interface MembershipStats {
  accepted: number;
  rejected: Record<RejectReason, number>;
  /** The epoch this session is in (-1 before it is admitted). */
  epoch: number;
  rekeys: number;
}

export interface MembershipEvents {
  roster: RosterEntry[];
  /** This session got its first epoch secret: it can hear and be heard. */
  admitted: { epoch: number };
  epoch: { epoch: number; step: MembershipMessage['kind'] };
  /** A rekey: the remaining members move to `link` (the new link to share: it holds the API key and the new leaf; never log it). */
  moved: { link: CallLink; text: string; reason: RekeyReason; gone: string };
  /** This session was excluded (or left out of a rekey): its call is over. */
  excluded: { reason: RekeyReason };
  rejected: { reason: RejectReason; kind?: MembershipMessage['kind'] };
}

export interface MembershipOptions {
  link: CallLink;
  identity: SessionIdentity;
  /** Default {@link LEAVE_GRACE_MS}. */
  leaveGraceMs?: number;
}

const te = (s: string) => utf8(s);
function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/** HPKE `info` of a welcome or a rekey: bound to the line it travels on, the epoch it makes and its recipient. */
function sealInfo(what: 'welcome' | 'rekey', line: string, epoch: number, recipient: Uint8Array): Uint8Array {
  return concatBytes(te(`studioline ${what} v1`), Uint8Array.of(0), te(line), Uint8Array.of(0), u32(epoch), recipient);
}

export class Membership extends TypedEvents<MembershipEvents> implements CoreMembership {
  readonly opener = new EpochOpener();
  readonly roster = new Roster();
  readonly stats: MembershipStats = { accepted: 0, rejected: { undecryptable: 0, replayed: 0, malformed: 0, forged: 0, unsealable: 0 }, epoch: -1, rekeys: 0 };
  private secretValue?: Uint8Array;
  private readonly admins = new Set<string>();
  private readonly cores = new Set<CallCore>();
  /** The core authority messages and BYE go out on (the line everybody is moving to). */
  private active?: CallCore;
  private link: CallLink;
  /** Authority messages are applied one at a time, in the order they arrive. */
  private queue: Promise<void> = Promise.resolve();
  private readonly leaveTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly admitting = new Set<string>();
  private ended = false;
  readonly id: string;
  private readonly hostKey: Uint8Array;

  constructor(private readonly options: MembershipOptions) {
    super();
    if (!options.link.hostKey) throw new Error('a line with membership needs a link with host=');
    this.hostKey = options.link.hostKey;
    this.link = options.link;
    this.id = identityOf(options.identity.signing.publicKey);
    // The host opens the call: the first epoch's secret is random, and nothing in the link derives it.
    if (this.isHost) this.applySecret(randomEpochSecret(), 0);
  }

  get isHost(): boolean {
    return sameKey(this.options.identity.signing.publicKey, this.hostKey);
  }

  get isAdmitted(): boolean {
    return this.secretValue !== undefined;
  }

  get epoch(): number {
    return this.stats.epoch;
  }

  /** The link of the line this session is on now (after a rekey, the new one). */
  get currentLink(): CallLink {
    return this.link;
  }

  secret(): Uint8Array | undefined {
    return this.secretValue;
  }

  roleOf(signPub: Uint8Array): Role {
    if (sameKey(signPub, this.hostKey)) return 'host';
    return this.admins.has(identityOf(signPub)) ? 'admin' : 'member';
  }

  /** A core on one of this session's lines; `active`: membership messages go out on it. */
  attach(core: CallCore, active: boolean): void {
    this.cores.add(core);
    if (active) this.active = core;
    core.on('joined', () => void this.announce(core));
    core.on('peerJoined', () => void this.announce(core));
    core.on('peerLeft', (sender) => this.onPeerLeft(core, sender));
  }

  setActive(core: CallCore): void {
    this.active = core;
  }

  /** This session left a core's line (a move finished, or the call ended). */
  detach(core: CallCore): void {
    this.cores.delete(core);
    if (core.line) this.roster.leftLine(core.line);
    this.emit('roster', this.roster.list());
  }

  /** Says who this session is on `core`'s line (again: a peer that joined since needs to know). */
  private async announce(core: CallCore): Promise<void> {
    const sender = core.senderId;
    if (sender === undefined || !core.line) return;
    const { identity } = this.options;
    this.roster.upsert({ signPub: identity.signing.publicKey, hpkePub: identity.hpke.publicKey, name: identity.name, colour: identity.colour }, core.line, senderIdToText(sender), this.roleOf(identity.signing.publicKey)).admitted = this.isAdmitted;
    this.emit('roster', this.roster.list());
    await this.sendSigned(core, { kind: 'roster', sender, signPub: identity.signing.publicKey, hpkePub: identity.hpke.publicKey, name: identity.name, ...(identity.colour !== undefined ? { colour: identity.colour } : {}) });
  }

  private async sendSigned(core: CallCore, message: MembershipMessage): Promise<boolean> {
    if (!core.line) return false;
    const unsigned = encodeUnsigned(message);
    const signature = await sign(this.options.identity.signing.privateKey, signatureInput(core.line, unsigned));
    return core.sendControl(concatBytes(unsigned, signature));
  }

  onControlRejected(_core: CallCore, reason: OpenFailure): void {
    this.reject(reason === 'replayed' ? 'replayed' : reason === 'malformed' ? 'malformed' : 'undecryptable');
  }

  private reject(reason: RejectReason, kind?: MembershipMessage['kind']): void {
    this.stats.rejected[reason]++;
    this.emit('rejected', { reason, ...(kind ? { kind } : {}) });
  }

  onControl(core: CallCore, senderId: bigint, plaintext: Uint8Array): void {
    const line = core.line;
    const decoded = decodeMembership(plaintext);
    if (!decoded || !line) return this.reject('malformed');
    const { message } = decoded;
    const checked = verify(signerOf(message), signatureInput(line, decoded.signed), decoded.signature);
    if (message.kind === 'roster' || message.kind === 'bye') {
      void checked.then((ok) => {
        if (!ok || message.sender !== senderId) return this.reject('forged', message.kind);
        this.stats.accepted++;
        if (message.kind === 'roster') this.onRoster(core, line, message);
        else this.onBye(identityOf(message.signPub));
      });
      return;
    }
    // Authority messages change keys: in order, one at a time; frames that fail meanwhile wait for it.
    const applied = (this.queue = this.queue.then(async () => {
      if (this.ended) return;
      if (!(await checked)) return this.reject('forged', message.kind);
      if (this.roleOf(signerOf(message)) === 'member') return this.reject('forged', message.kind);
      await this.onAuthority(line, message);
    }));
    this.opener.expect(applied);
  }

  private onRoster(core: CallCore, line: string, m: Extract<MembershipMessage, { kind: 'roster' }>): void {
    const id = identityOf(m.signPub);
    // Its audio follows (on a new line, after a move): its keys are made now, not on its first frame.
    this.opener.warm(m.sender);
    const entry = this.roster.upsert(m, line, senderIdToText(m.sender), this.roleOf(m.signPub));
    if (id === this.id) return;
    clearTimeout(this.leaveTimers.get(id));
    this.leaveTimers.delete(id);
    this.emit('roster', this.roster.list());
    if (!entry.admitted && this.isActing() && !this.admitting.has(id)) {
      this.admitting.add(id);
      void (this.queue = this.queue.then(() => this.admit(core, entry)).finally(() => this.admitting.delete(id)));
    }
  }

  private onBye(id: string): void {
    const entry = this.roster.get(id);
    if (id === this.id || !entry) return;
    // It is going: it no longer counts as present (when it is the host, an admin acts from now on).
    entry.presence.clear();
    this.emit('roster', this.roster.list());
    if (entry.admitted && this.isActing()) this.rekey('left', id).catch(() => undefined);
  }

  private onPeerLeft(core: CallCore, sender: string): void {
    if (!core.line) return;
    const entry = this.roster.left(core.line, sender);
    this.emit('roster', this.roster.list());
    if (!entry || !entry.admitted || entry.presence.size > 0) return;
    // It may be reconnecting (a new sender id, the same identity): wait before rekeying it away.
    clearTimeout(this.leaveTimers.get(entry.id));
    const timer = setTimeout(() => {
      this.leaveTimers.delete(entry.id);
      if (entry.presence.size === 0 && entry.admitted && this.isActing()) this.rekey('left', entry.id).catch(() => undefined);
    }, this.options.leaveGraceMs ?? LEAVE_GRACE_MS);
    (timer as { unref?: () => void }).unref?.();
    this.leaveTimers.set(entry.id, timer);
  }

  /** True when this session is the one authority that acts now. */
  private isActing(): boolean {
    if (!this.isAdmitted || this.ended) return false;
    if (this.isHost) return true;
    if (!this.admins.has(this.id)) return false;
    const present = this.roster.list().filter((e) => e.presence.size > 0);
    if (present.some((e) => e.role === 'host')) return false;
    return !present.some((e) => e.role === 'admin' && e.id < this.id);
  }

  /** JOIN: ratchets the epoch for everyone and seals the new secret (and who the admins are) to the joiner. */
  private async admit(core: CallCore, joiner: RosterEntry): Promise<void> {
    if (joiner.admitted || !this.secretValue || !core.line) return;
    const epoch = this.stats.epoch + 1;
    const secret = await ratchetEpoch(this.secretValue, 'join', epoch, joiner.signPub);
    const admins = [...this.admins].map((id) => this.roster.get(id)?.signPub).filter((k): k is Uint8Array => k !== undefined);
    const welcomePlain = concatBytes(secret, Uint8Array.of(admins.length), ...admins);
    const welcome = await sealTo(joiner.hpkePub, sealInfo('welcome', core.line, epoch, joiner.signPub), new Uint8Array(0), welcomePlain);
    const commit = await this.prepare(secret);
    if (!(await this.sendSigned(core, { kind: 'join', epoch, signerPub: this.options.identity.signing.publicKey, joinerSignPub: joiner.signPub, welcome }))) return;
    joiner.admitted = true;
    await this.applySecret(secret, epoch, 'join', commit);
  }

  /** The host's or an admin's action: excludes a member by name or id; resolves with the new link's text. */
  async exclude(nameOrId: string): Promise<string> {
    const entry = this.roster.find(nameOrId);
    if (!entry) throw new Error(`no single member is called or has an id starting with "${nameOrId}"`);
    if (entry.id === this.id) throw new Error('a session cannot exclude itself (leave instead)');
    if (!this.isActing()) throw new Error('only the host (or a member it promoted, when the host is away) can exclude');
    return this.rekey('excluded', entry.id);
  }

  /** The host's or an admin's action: lets a member act as an authority too. */
  async promote(nameOrId: string): Promise<void> {
    const entry = this.roster.find(nameOrId);
    if (!entry || !entry.admitted) throw new Error(`no single admitted member is called or has an id starting with "${nameOrId}"`);
    if (!this.isActing() || !this.active) throw new Error('only the host (or a member it promoted, when the host is away) can promote');
    const core = this.active;
    await (this.queue = this.queue.then(async () => {
      if (!this.secretValue) return;
      const epoch = this.stats.epoch + 1;
      const secret = await ratchetEpoch(this.secretValue, 'promote', epoch, entry.signPub);
      const commit = await this.prepare(secret);
      if (!(await this.sendSigned(core, { kind: 'promote', epoch, signerPub: this.options.identity.signing.publicKey, promotedSignPub: entry.signPub }))) return;
      this.admins.add(entry.id);
      entry.role = 'admin';
      await this.applySecret(secret, epoch, 'promote', commit);
    }));
  }

  /** REKEY: a fresh epoch secret and line for every admitted member but `goneId`, each sealed to it alone. */
  private rekey(reason: RekeyReason, goneId: string): Promise<string> {
    const run = this.queue.then(async () => {
      const core = this.active;
      const gone = this.roster.get(goneId);
      if (!core?.line || !gone || !gone.admitted) throw new Error('that member is no longer in the call');
      const epoch = this.stats.epoch + 1;
      const leaf = generateLeaf();
      const secret = randomEpochSecret();
      const plain = concatBytes(parseLeaf(leaf) as Uint8Array, secret);
      // Those waiting on the line for their JOIN come along too (the host would admit them next).
      const stay = this.roster.list().filter((e) => (e.admitted || e.presence.size > 0) && e.id !== goneId && e.id !== this.id);
      const recipients = await Promise.all(stay.map(async (e) => ({ signPub: e.signPub, ...(await sealTo(e.hpkePub, sealInfo('rekey', core.line as string, epoch, e.signPub), new Uint8Array(0), plain)) })));
      const commit = await this.prepare(secret);
      if (!(await this.sendSigned(core, { kind: 'rekey', epoch, signerPub: this.options.identity.signing.publicKey, goneSignPub: gone.signPub, reason, recipients }))) {
        throw new Error('not connected: the rekey was not sent');
      }
      // Its own audio goes under the new key with the very next frame (made ahead), then the move starts.
      await this.applySecret(secret, epoch, 'rekey', commit);
      const text = this.moveTo(leaf, gone, reason, stay);
      return text;
    });
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }

  private async onAuthority(line: string, m: Exclude<MembershipMessage, { kind: 'roster' | 'bye' }>): Promise<void> {
    const me = this.options.identity.signing.publicKey;
    if (m.kind === 'join' && sameKey(m.joinerSignPub, me) && !this.isAdmitted) {
      const plain = await openFrom(this.options.identity.hpke, m.welcome, sealInfo('welcome', line, m.epoch, me), new Uint8Array(0));
      const admins = plain ? plain[EPOCH_SECRET_BYTES] : -1;
      if (!plain || plain.length !== EPOCH_SECRET_BYTES + 1 + admins * SIGN_PUBLIC_BYTES) return this.reject('unsealable', m.kind);
      for (let i = 0; i < admins; i++) this.admins.add(identityOf(plain.subarray(EPOCH_SECRET_BYTES + 1 + i * SIGN_PUBLIC_BYTES, EPOCH_SECRET_BYTES + 1 + (i + 1) * SIGN_PUBLIC_BYTES)));
      this.stats.accepted++;
      // Those already here were admitted before this session (a joiner cannot tell who else waits).
      for (const entry of this.roster.list()) entry.admitted = true;
      await this.applySecret(plain.slice(0, EPOCH_SECRET_BYTES), m.epoch, 'join');
      this.emit('admitted', { epoch: m.epoch });
      for (const core of this.cores) void this.announce(core);
      return;
    }
    // Before it is admitted a session cannot check the epoch chain: it waits for its own JOIN, or a
    // REKEY that names it (its keys are this session's own, so no earlier message can name it).
    const current = this.secretValue;
    const waiting = !current;
    if (waiting && m.kind !== 'rekey') return;
    if (!waiting && m.epoch !== this.stats.epoch + 1) return this.reject('replayed', m.kind);
    if (m.kind === 'join' || m.kind === 'promote') {
      const subject = m.kind === 'join' ? m.joinerSignPub : m.promotedSignPub;
      if (!current) return;
      const secret = await ratchetEpoch(current, m.kind, m.epoch, subject);
      this.stats.accepted++;
      const entry = this.roster.get(identityOf(subject));
      if (m.kind === 'join' && entry) entry.admitted = true;
      if (m.kind === 'promote') {
        this.admins.add(identityOf(subject));
        if (entry) entry.role = 'admin';
      }
      await this.applySecret(secret, m.epoch, m.kind);
      return;
    }
    const mine = m.recipients.find((r) => sameKey(r.signPub, me));
    if (waiting && (!mine || sameKey(m.goneSignPub, me))) return;
    if (!mine || sameKey(m.goneSignPub, me)) {
      this.stats.accepted++;
      this.ended = true;
      this.secretValue = undefined;
      this.emit('excluded', { reason: m.reason });
      return;
    }
    const plain = await openFrom(this.options.identity.hpke, mine, sealInfo('rekey', line, m.epoch, me), new Uint8Array(0));
    if (!plain || plain.length !== 32 + EPOCH_SECRET_BYTES) return this.reject('unsealable', m.kind);
    this.stats.accepted++;
    const gone = this.roster.get(identityOf(m.goneSignPub));
    const stay = m.recipients.map((r) => this.roster.get(identityOf(r.signPub))).filter((e): e is RosterEntry => e !== undefined);
    this.moveTo(bytesToBase64url(plain.subarray(0, 32)), gone, m.reason, stay);
    await this.applySecret(plain.slice(32), m.epoch, 'rekey');
    if (waiting) this.emit('admitted', { epoch: m.epoch });
  }

  /** After a rekey: who is admitted now, the new link, and the event that moves the calls (member-call.ts). */
  private moveTo(leaf: string, gone: RosterEntry | undefined, reason: RekeyReason, stay: RosterEntry[]): string {
    const l = this.link;
    const text = formatCallLink(l.origin, l.apiKey, leaf, l.mobile, l.capacity, this.hostKey);
    this.link = parseCallLink(text);
    for (const e of this.roster.list()) e.admitted = e.id === this.id || stay.includes(e);
    if (gone) {
      this.admins.delete(gone.id);
      this.roster.remove(gone.id);
    }
    this.stats.rekeys++;
    this.emit('moved', { link: this.link, text, reason, gone: gone?.name ?? '' });
    this.emit('roster', this.roster.list());
    return text;
  }

  /** The authority's own sealers for `secret`, made before it announces the epoch; the function returned switches every core to them. */
  private async prepare(secret: Uint8Array): Promise<() => void> {
    const commits = await Promise.all([...this.cores].map((core) => core.prepareRekey(secret)));
    return () => commits.forEach((commit) => commit());
  }

  private async applySecret(secret: Uint8Array, epoch: number, step?: MembershipMessage['kind'], prepared?: () => void): Promise<void> {
    this.secretValue = secret;
    this.stats.epoch = epoch;
    this.opener.setSecret(secret);
    if (prepared) prepared();
    else await Promise.all([...this.cores].map((core) => core.rekey(secret)));
    if (step) this.emit('epoch', { epoch, step });
  }

  /** Leaving: says BYE on the active line, so the host rekeys at once (rather than after the grace). */
  async leave(): Promise<void> {
    const core = this.active;
    if (core && !this.ended && core.senderId !== undefined) await this.sendSigned(core, { kind: 'bye', sender: core.senderId, signPub: this.options.identity.signing.publicKey });
    this.close();
  }

  close(): void {
    this.ended = true;
    for (const timer of this.leaveTimers.values()) clearTimeout(timer);
    this.leaveTimers.clear();
  }
}
