/**
 * Membership messages arrive despite a lossy path (issue 14). The gateway treats a control frame as
 * it treats audio: it drops one to a receiver whose socket is backed up (a slow reader) or whose
 * downlink is over its budget. Audio shrugs off a lost frame; a lost JOIN leaves a joiner deaf, a
 * lost REKEY leaves an excluded peer on a line everyone else left and a member behind on the old key.
 *
 * So every membership message but BYE (the session is gone right after it; the leave grace covers
 * a lost one) is sent again, a bounded number of times on a widening schedule, each time as a new
 * SFrame frame (a new counter, so the replay window lets it through) of the same signed bytes. A
 * receiver knows a copy it already accepted from the same sender on the same line and sets it aside
 * without counting it refused (RepeatFilter); a copy from anybody else is still a replay, refused.
 */
import { bytesToBase64url } from '@studioline/protocol';

/** When each copy goes out, after the first send (ms): within the old line's linger after a move (member-call.ts). */
export const RESEND_AFTER_MS = [40, 150, 400, 900];

/** How many accepted messages a receiver remembers to tell their copies apart. */
export const REMEMBERED_MESSAGES = 128;

export class Resender {
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();

  /** Sends copies with `send` on the schedule while `wanted()` (e.g. the session is still the one that said it). */
  schedule(send: () => Promise<unknown>, wanted: () => boolean = () => true): void {
    for (const after of RESEND_AFTER_MS) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (!wanted()) return;
        void send();
      }, after);
      (timer as { unref?: () => void }).unref?.();
      this.timers.add(timer);
    }
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

/** The accepted messages a receiver has seen lately: line, sender and the signed bytes. */
export class RepeatFilter {
  private readonly seen = new Set<string>();

  static key(line: string, senderId: bigint, plaintext: Uint8Array): string {
    return `${line}:${senderId}:${bytesToBase64url(plaintext)}`;
  }

  has(key: string): boolean {
    return this.seen.has(key);
  }

  add(key: string): void {
    this.seen.add(key);
    // Oldest first: a Set keeps insertion order.
    for (const old of this.seen) {
      if (this.seen.size <= REMEMBERED_MESSAGES) break;
      this.seen.delete(old);
    }
  }
}
