/**
 * Fair loudest-speaker selection for group lines: whose frames the relay forwards, and to whom.
 * One selector per line and per layer (each layer has its own number of speakers, from the
 * receivers' budget). The input is the clear audio-level byte each sender puts on its frames
 * (RFC 6464: 0 is 0 dBov, the loudest, 127 silence); the server sees nothing else of the audio.
 *
 * Seats. A selector holds N speaker seats and one reserve seat. Every listener hears the N
 * loudest of the OTHER members: a listener who is not a speaker hears the N speakers; a speaker
 * hears the N-1 others plus the reserve, in place of itself. So every listener of a line with more
 * than N senders receives exactly N streams: never N+1 (over its budget), never N-1 (a speaker
 * would otherwise hear one voice fewer than everyone else). Members in no seat are not forwarded
 * (counted as `not_loudest`). A line with at most N+1 senders seats them all: everyone is heard.
 *
 * Hysteresis and tie-break (LiveKit's idea of an active level and a smoothing window, with our own
 * numbers). A seat is kept until a challenger is louder than its holder by MARGIN_DB, frame after
 * frame, for HOLD_MS of the challenger's own audio; equal voices therefore never trade places, and
 * the first to take a seat keeps it (the tie-break is seniority). The numbers, and why:
 *   - ACTIVE_LEVEL 50: frames quieter than -50 dBov count as silence, so room noise never competes.
 *   - Two smoothed levels per voice, per 10 ms of audio. As a seat's holder it is judged by a level
 *     with attack 1/2 and release 1/32 (a time constant of 320 ms: a speaker keeps its level through
 *     the pauses between words). As a challenger, by a level with the same attack and a release of
 *     1/4 (40 ms): only sustained loudness counts, a cough does not linger.
 *   - MARGIN_DB 6: twice the amplitude. Two people talking at a similar level (a few dB apart, as
 *     voices are) stay where they are; a voice clearly over the others takes over.
 *   - HOLD_MS 150, counted in the challenger's frames (15 frames of 10 ms), not on the relay's
 *     clock: frames bunched up by a stall somewhere cannot win a seat in a millisecond, and a busy
 *     relay cannot slow a takeover. A voice 12 dB over the others passes the margin with its first
 *     or second louder frame and is forwarded from its 15th or 16th: 150-160 ms of its audio after
 *     it got louder (the goal is 300 ms).
 *   - STALE_MS 1000: a seat holder that sent nothing for a second (relay clock) counts as silent, so
 *     a sender that stops sending (push-to-talk released, a stalled link) gives its seat up.
 * A challenger beats the quietest holder of the highest tier it can (the speakers before the
 * reserve; among equals, the latest seat), so a clearly louder voice reaches every listener in one
 * step; the holder it displaces takes the challenger's old place.
 *
 * Pure logic on the members' identities and the time given: the tests drive it in simulated time.
 */

/** RFC 6464 level of silence. */
export const SILENCE = 127;
/** Frames quieter than this (-dBov) count as silence. */
export const ACTIVE_LEVEL = 50;
/** A challenger must be this much louder (dB) than a seat's holder... */
export const MARGIN_DB = 6;
/** ...for this long, in its own audio (ms), to take the seat. */
export const HOLD_MS = 150;
/** A holder that sent nothing for this long (relay clock, ms) counts as silent. */
export const STALE_MS = 1000;
/** Smoothing per 10 ms of audio when the level rises (attack) and falls (release). */
const ATTACK_PER_10MS = 1 / 2;
const HOLDER_RELEASE_PER_10MS = 1 / 32;
const CHALLENGER_RELEASE_PER_10MS = 1 / 4;

/** To whom a frame goes: every other member, only the speakers (the frame is the reserve's), or nobody. */
export type Verdict = 'all' | 'speakers' | 'none';

interface Voice {
  /** Smoothed level (RFC 6464 scale) as a seat's holder: slow release. */
  level: number;
  /** Smoothed level as a challenger: fast release. */
  burst: number;
  /** When its last frame arrived (relay clock, ms). */
  lastAt: number;
  /** Its seat: 0..N-1 speakers, N the reserve, -1 none. */
  seat: number;
  /** Consecutive frames in which it beat the quietest speaker, and the reserve, by the margin. */
  beatSpeakers: number;
  beatReserve: number;
}

export interface SelectorOptions {
  /** Speakers every listener hears (N). */
  speakers: number;
  /** The layer's frame duration (ms). Default 10. */
  frameMs?: number;
  /** Called on every change of seats (for a metric). */
  onChange?: () => void;
}

export class SpeakerSelector<M> {
  private readonly voices = new Map<M, Voice>();
  /** seats[0..N-1] the speakers, seats[N] the reserve; undefined: free. */
  private readonly seats: (M | undefined)[];
  private readonly attack: number;
  private readonly holderRelease: number;
  private readonly challengerRelease: number;
  private readonly holdFrames: number;
  /** Bumped on every change of seats, so a caller can cache what depends on them. */
  version = 0;

  constructor(private readonly options: SelectorOptions) {
    if (!Number.isInteger(options.speakers) || options.speakers < 1) throw new RangeError(`speakers must be a positive integer, got ${options.speakers}`);
    const frameMs = options.frameMs ?? 10;
    this.seats = new Array(options.speakers + 1).fill(undefined);
    const per = (perTenMs: number) => 1 - (1 - perTenMs) ** (frameMs / 10);
    this.attack = per(ATTACK_PER_10MS);
    this.holderRelease = per(HOLDER_RELEASE_PER_10MS);
    this.challengerRelease = per(CHALLENGER_RELEASE_PER_10MS);
    this.holdFrames = Math.max(1, Math.round(HOLD_MS / frameMs));
  }

  get speakerCount(): number {
    return this.options.speakers;
  }

  /** The members in the speaker seats, in seat order. */
  speakers(): M[] {
    return this.seats.slice(0, this.options.speakers).filter((m): m is M => m !== undefined);
  }

  /** The member in the reserve seat, heard only by the speakers. */
  reserve(): M | undefined {
    return this.seats[this.options.speakers];
  }

  /** A frame of `member` at `level` arrived at `now` (ms): updates the seats and says where it goes. */
  observe(member: M, level: number, now: number): Verdict {
    let v = this.voices.get(member);
    if (!v) {
      v = { level: SILENCE, burst: SILENCE, lastAt: now, seat: -1, beatSpeakers: 0, beatReserve: 0 };
      this.voices.set(member, v);
    }
    const input = level > ACTIVE_LEVEL ? SILENCE : level;
    v.level += (input - v.level) * (input < v.level ? this.attack : this.holderRelease);
    v.burst += (input - v.burst) * (input < v.burst ? this.attack : this.challengerRelease);
    v.lastAt = now;
    if (v.seat < 0) {
      const free = this.seats.indexOf(undefined);
      if (free >= 0) this.sit(member, v, free);
    }
    if (v.seat < 0 || v.seat === this.options.speakers) this.challenge(member, v, now);
    return v.seat < 0 ? 'none' : v.seat < this.options.speakers ? 'all' : 'speakers';
  }

  /** The member left: its seat goes to the reserve (a speaker's) or to the loudest member without one. */
  remove(member: M): void {
    const v = this.voices.get(member);
    if (!v) return;
    this.voices.delete(member);
    if (v.seat < 0) return;
    const n = this.options.speakers;
    this.seats[v.seat] = undefined;
    let free = v.seat;
    const reserve = this.seats[n];
    if (free < n && reserve !== undefined) {
      this.move(reserve, this.voices.get(reserve) as Voice, free);
      free = n;
    }
    let best: M | undefined;
    let bestLevel = Infinity;
    for (const [m, other] of this.voices) {
      if (other.seat < 0 && other.level < bestLevel) {
        best = m;
        bestLevel = other.level;
      }
    }
    if (best !== undefined) this.sit(best, this.voices.get(best) as Voice, free);
    else this.changed();
  }

  /**
   * A member below the speakers (the reserve, or without a seat) against the holders above it:
   * after HOLD_MS of frames louder by the margin, it takes the quietest speaker's seat, or else
   * (without a seat) the reserve's.
   */
  private challenge(member: M, v: Voice, now: number): void {
    const n = this.options.speakers;
    const speaker = this.quietest(0, n, now);
    v.beatSpeakers = speaker >= 0 && v.burst + MARGIN_DB <= this.holderLevel(speaker, now) ? v.beatSpeakers + 1 : 0;
    const reserve = v.seat < 0 ? this.quietest(n, n + 1, now) : -1;
    v.beatReserve = reserve >= 0 && v.burst + MARGIN_DB <= this.holderLevel(reserve, now) ? v.beatReserve + 1 : 0;
    if (speaker >= 0 && v.beatSpeakers >= this.holdFrames) this.swap(member, v, this.seats[speaker] as M);
    else if (reserve >= 0 && v.beatReserve >= this.holdFrames) this.swap(member, v, this.seats[reserve] as M);
  }

  /** The seat of the quietest holder of seats [from, to); among equals, the latest seat; -1 if all are free. */
  private quietest(from: number, to: number, now: number): number {
    let found = -1;
    let foundLevel = -Infinity;
    for (let i = from; i < to; i++) {
      if (this.seats[i] === undefined) continue;
      const level = this.holderLevel(i, now);
      if (level >= foundLevel) {
        found = i;
        foundLevel = level;
      }
    }
    return found;
  }

  /** The level the holder of seat `i` defends it with: its slow level, or silence once it has sent nothing for STALE_MS. */
  private holderLevel(i: number, now: number): number {
    const v = this.voices.get(this.seats[i] as M) as Voice;
    return now - v.lastAt > STALE_MS ? SILENCE : v.level;
  }

  /** The challenger takes the holder's seat; the holder takes the challenger's place (maybe none). */
  private swap(challenger: M, cv: Voice, holder: M): void {
    const hv = this.voices.get(holder) as Voice;
    const from = cv.seat;
    this.seats[hv.seat] = challenger;
    cv.seat = hv.seat;
    hv.seat = from;
    if (from >= 0) this.seats[from] = holder;
    for (const v of [cv, hv]) v.beatSpeakers = v.beatReserve = 0;
    this.changed();
  }

  private sit(member: M, v: Voice, seat: number): void {
    this.seats[seat] = member;
    v.seat = seat;
    v.beatSpeakers = v.beatReserve = 0;
    this.changed();
  }

  private move(member: M, v: Voice, seat: number): void {
    this.seats[v.seat] = undefined;
    this.sit(member, v, seat);
  }

  private changed(): void {
    this.version++;
    this.options.onChange?.();
  }
}

/** What the selection needs of a member: its line (and how many are on it). */
export interface SelectableMember {
  line: { members: readonly unknown[] };
}

export interface SpeakerSelectionOptions<M, T> {
  /** Speakers per layer (e.g. { full: 2, compact: 4 }). */
  speakers: Readonly<Record<string, number>>;
  /** Frame duration per layer (ms); 10 when not given. */
  frameMs?: Readonly<Record<string, number>>;
  /** The destinations of `speaker`'s frames of `layer` to `listeners` only (the reserve's frames). */
  targetsTo(speaker: M, listeners: readonly M[], layer: string): T[];
  /** A change of seats on a line's layer (for a metric). */
  onChange?(layer: string): void;
}

/**
 * The selectors of every line a relay owns, one per line and layer, and the destinations of each
 * frame: all of the member's targets, the reserve's targets (to the speakers only), or none.
 */
export class SpeakerSelection<M extends SelectableMember, T> {
  private readonly lines = new WeakMap<object, Map<string, { selector: SpeakerSelector<M>; version: number; reserveTargets: T[] }>>();

  constructor(private readonly options: SpeakerSelectionOptions<M, T>) {}

  /**
   * The destinations of a frame of `member` on `layer` at `level`: `all` (its destinations to every
   * other member on that layer), the reserve's (to the speakers only), or undefined when it is not
   * forwarded.
   */
  targets(member: M, all: readonly T[], level: number, now: number, layer = 'full'): readonly T[] | undefined {
    // A line of at most N + 1 has a seat for everybody, and everybody hears everybody else: no
    // selection to run (1:1 calls are most of the frames). A line that grows past it starts its
    // selector then, with the seats going to the first voices heard.
    if (member.line.members.length <= (this.options.speakers[layer] ?? 0) + 1) return all;
    const entry = this.entry(member.line, layer);
    const verdict = entry.selector.observe(member, level, now);
    if (verdict === 'all') return all;
    if (verdict === 'none') return undefined;
    if (entry.version !== entry.selector.version) {
      entry.reserveTargets = this.options.targetsTo(member, entry.selector.speakers(), layer);
      entry.version = entry.selector.version;
    }
    return entry.reserveTargets;
  }

  /** Who gets which layer changed on `line` (a receiver stepped down or up): the reserve's destinations are worked out again. */
  routesChanged(line: object): void {
    for (const entry of this.lines.get(line)?.values() ?? []) entry.version = -1;
  }

  /** The member left its line: its seats are given up on every layer. */
  leave(member: M): void {
    for (const entry of this.lines.get(member.line)?.values() ?? []) entry.selector.remove(member);
  }

  /** The selector of a line's layer (for tests and figures). */
  selector(line: object, layer = 'full'): SpeakerSelector<M> {
    return this.entry(line, layer).selector;
  }

  private entry(line: object, layer: string) {
    let byLayer = this.lines.get(line);
    if (!byLayer) this.lines.set(line, (byLayer = new Map()));
    let entry = byLayer.get(layer);
    if (!entry) {
      const speakers = this.options.speakers[layer];
      if (speakers === undefined) throw new RangeError(`no speaker count for layer ${layer}`);
      const selector = new SpeakerSelector<M>({ speakers, frameMs: this.options.frameMs?.[layer], onChange: () => this.options.onChange?.(layer) });
      byLayer.set(layer, (entry = { selector, version: -1, reserveTargets: [] }));
    }
    return entry;
  }
}
