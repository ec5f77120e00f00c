/**
 * Who is talking, from the clear level of each peer's frames (reported ten times a second): a peer
 * talks while its level is above TALKING_LEVEL, and for HOLD_MS after, so the indicator does not
 * flicker between words.
 */

/** About -45 dBov on the page's 0-1 meter scale ((127 - dBov) / 127): above room noise, below speech. */
export const TALKING_LEVEL = 82 / 127;
export const HOLD_MS = 400;

export class TalkingIndicator {
  private readonly lastLoud = new Map<string, number>();

  /** `sender`'s level now (0-1); true while it talks. */
  update(sender: string, level: number, now: number): boolean {
    if (level >= TALKING_LEVEL) this.lastLoud.set(sender, now);
    const at = this.lastLoud.get(sender);
    return at !== undefined && now - at <= HOLD_MS;
  }

  forget(sender: string): void {
    this.lastLoud.delete(sender);
  }
}
