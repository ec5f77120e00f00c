/**
 * A call on a line with membership (issue 14): the membership (membership.ts) and the call cores of
 * the lines this session is on, with the API of one call core, so the Node peer and the page use
 * it in place of a CallCore.
 *
 * A rekey moves everybody to a new line, make-before-break, so nobody hears a gap: the new epoch's
 * secret applies at once on the old line (membership.ts); this session joins the new line beside
 * the old one, keeps sending on the old until every other remaining member is on the new one (or
 * MOVE_SWITCH_MS passed), then sends on the new one, and listens on the old for MOVE_LINGER_MS more
 * (frames sent there before the others switched are still arriving), and until every other member
 * is on the new line (at most MOVE_SWITCH_MS more), before it leaves it.
 */
import { CallCore, CallCoreOptions, CallError, CallEvents, FrameSink } from './call-core.js';
import { CallFigures } from './call-stats.js';
import { LEAVE_GRACE_MS, Membership } from './membership.js';
import type { SessionIdentity } from './session-identity.js';
import { TypedEvents } from './typed-events.js';

/** After joining the new line, how long to wait for the other members there before sending on it anyway (ms). */
export const MOVE_SWITCH_MS = 3000;
/** How long the old line is still listened to once this session sends on the new one (ms). */
export const MOVE_LINGER_MS = 1000;

export interface MemberCallOptions extends Omit<CallCoreOptions, 'membership'> {
  identity: SessionIdentity;
  /** Default {@link LEAVE_GRACE_MS}. */
  leaveGraceMs?: number;
}

/**
 * Which line each core event is passed on from: every line (what is heard and sent), or only the
 * line this session sends on (the others are the old line's, going away). A Record, so a new core
 * event does not compile until it is placed here.
 */
const FROM: Record<keyof CallEvents, 'active' | 'every'> = {
  state: 'active', joined: 'active', peers: 'active', peerJoined: 'active', peerLeft: 'active', warning: 'active', connectionLost: 'active',
  ended: 'active', serverMessage: 'active', codecError: 'active', receiving: 'active',
  frame: 'every', sent: 'every', rekeyed: 'every',
};

export class MemberCall extends TypedEvents<CallEvents> {
  readonly membership: Membership;
  private active: CallCore;
  private readonly everyCore: CallCore[] = [];
  private readonly sinks = new Set<FrameSink>();
  private stopped = false;

  constructor(private readonly options: MemberCallOptions) {
    super();
    this.membership = new Membership({ link: options.link, identity: options.identity, leaveGraceMs: options.leaveGraceMs ?? LEAVE_GRACE_MS });
    this.active = this.makeCore(options.link, true);
    this.membership.on('moved', ({ link }) => this.move(link));
    this.membership.on('excluded', () => {
      this.emit('ended', { error: new CallError('excluded', 'the host excluded this peer: the call went on without it') });
      this.stopCores();
    });
  }

  private makeCore(link: CallCoreOptions['link'], active: boolean): CallCore {
    const core = new CallCore({ ...this.options, link, url: link.websocketUrl === this.options.link.websocketUrl ? this.options.url : link.websocketUrl, membership: this.membership });
    this.everyCore.push(core);
    for (const sink of this.sinks) core.addSink(sink);
    for (const event of Object.keys(FROM) as (keyof CallEvents)[]) {
      core.on(event, (value) => (FROM[event] === 'every' || core === this.active) && this.emit(event, value as never));
    }
    this.membership.attach(core, active);
    return core;
  }

  /** Joins the new line beside the old one, then moves the sending over (see the file's comment). */
  private move(link: CallCoreOptions['link']): void {
    if (this.stopped) return;
    const next = this.makeCore(link, false);
    next.start().then(
      async () => {
        const line = next.line as string;
        const deadline = performance.now() + MOVE_SWITCH_MS;
        const othersHere = () => this.membership.roster.list().every((e) => e.id === this.membership.id || !e.admitted || e.presence.has(line));
        while (!this.stopped && !othersHere() && performance.now() < deadline) await sleep(5);
        if (this.stopped) return next.stop();
        const old = this.everyCore.filter((c) => c !== next && c !== this.active).concat(this.active);
        this.active = next;
        this.membership.setActive(next);
        this.emit('peers', [...next.peers]);
        // Frames sent on the old line before the others switched are still arriving; a member slow
        // to learn of the move is still there: listen on until it is on the new line (bounded).
        await sleep(MOVE_LINGER_MS);
        const until = performance.now() + MOVE_SWITCH_MS;
        while (!this.stopped && !othersHere() && performance.now() < until) await sleep(20);
        for (const core of old) this.retire(core);
      },
      () => this.retire(next),
    );
  }

  private retire(core: CallCore): void {
    if (core === this.active) return;
    this.membership.detach(core);
    core.stop();
  }

  /** The core this session sends on now (the newest line it moved to). */
  get activeCore(): CallCore {
    return this.active;
  }

  start(): Promise<void> {
    return this.active.start();
  }

  /** Leaves: says BYE (so the host rekeys at once), then closes every line. */
  stop(): void {
    if (this.stopped) return;
    void this.membership.leave().finally(() => this.stopCores());
  }

  private stopCores(): void {
    this.stopped = true;
    this.membership.close();
    for (const core of this.everyCore) core.stop();
  }

  send(pcm: Int16Array, at48k?: Int16Array): Promise<boolean> {
    return this.active.send(pcm, at48k);
  }

  /** Frames not sent (skipped, late): the frame clock of the line this session sends on moves on. */
  skip(count: number): void {
    this.active.skip(count);
  }

  /** Frames not sent on purpose (push-to-talk up, listen only): see CallCore.pause. */
  pause(count = 1): void {
    this.active.pause(count);
  }

  addSink(sink: FrameSink): () => void {
    this.sinks.add(sink);
    const removers = this.everyCore.map((core) => core.addSink(sink));
    return () => {
      this.sinks.delete(sink);
      for (const remove of removers) remove();
    };
  }

  get peers(): ReadonlySet<string> {
    return this.active.peers;
  }

  get isJoined(): boolean {
    return this.active.isJoined;
  }

  get sendsCompact(): boolean {
    return this.active.sendsCompact;
  }

  /** The figures of every line this call was on, added up (the audio opener is shared: its counts once). */
  figures(): CallFigures {
    const all = this.everyCore.map((core) => core.figures());
    const sum = all.reduce((a, f) => {
      for (const key of Object.keys(f) as (keyof CallFigures)[]) {
        const v = f[key];
        if (typeof v !== 'number' || key === 'rttMs' || key === 'serverMs') continue;
        const before = (a[key] as number | undefined) ?? 0;
        (a[key] as number) = key === 'longestGap' ? Math.max(before, v) : before + v;
      }
      for (const [code, n] of Object.entries(f.warnings)) a.warnings[code as keyof CallFigures['warnings']] = (a.warnings[code as keyof CallFigures['warnings']] ?? 0) + (n ?? 0);
      return a;
    }, { warnings: {} } as CallFigures);
    const o = this.membership.opener.stats;
    const active = this.active.figures();
    return { ...sum, replayed: o.replayed, decryptFailed: o.decryptFailed, malformed: sum.malformed - (all.length - 1) * o.malformed, rttMs: active.rttMs, serverMs: active.serverMs };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
