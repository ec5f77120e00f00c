/**
 * Opens audio across epochs (issue 14): the frames of every sender under the current epoch's
 * secret, and for a grace after a change under the few before it too: a sender seals under the
 * old secret until it has learnt of the change, and a member on a busy machine may learn of it
 * seconds late (measured: 2.8 s with three CLI peers and the server on a loaded 2-core machine).
 * Past the grace an old secret is dropped. A frame that fails while a change is being applied (its
 * sender applied it first) is tried again once it is. Frames that arrive before this session holds
 * any epoch (before the host admitted it) are counted apart: they are not failures, it was not in.
 */
import { FrameOpener, OpenFailure, OpenedFrame, OpenerStats } from '@studioline/protocol';

/** How long frames under an earlier epoch are still opened after the change (ms). */
export const EPOCH_GRACE_MS = 10_000;
/** The most earlier epochs kept within the grace (joins in a quick row). */
const MAX_EARLIER_EPOCHS = 4;

/** What the call core needs of an audio opener (FrameOpener is one, for a line without membership). */
export interface AudioOpener {
  readonly stats: OpenerStats;
  open(wire: Uint8Array): Promise<OpenedFrame | OpenFailure>;
  forget(senderId: bigint): void;
}

export class EpochOpener implements AudioOpener {
  readonly stats: OpenerStats & { beforeAdmission: number } = { received: 0, malformed: 0, replayed: 0, decryptFailed: 0, beforeAdmission: 0 };
  private current?: FrameOpener;
  /** Earlier epochs' openers, newest first, each until its grace ends. */
  private earlier: { opener: FrameOpener; until: number }[] = [];
  private pending?: Promise<unknown>;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** The epoch changed: frames open under `secret` from now on (and under the one before, for the grace). */
  setSecret(secret: Uint8Array): void {
    if (this.current) this.earlier = [{ opener: this.current, until: this.now() + EPOCH_GRACE_MS }, ...this.earlier].slice(0, MAX_EARLIER_EPOCHS);
    this.current = new FrameOpener(secret);
  }

  /** A change is being applied: frames that fail meanwhile wait for it and are tried again. */
  expect(change: Promise<unknown>): void {
    const pending = change.catch(() => undefined);
    this.pending = pending;
    void pending.then(() => {
      if (this.pending === pending) this.pending = undefined;
    });
  }

  async open(wire: Uint8Array): Promise<OpenedFrame | OpenFailure> {
    if (!this.current && !this.pending) {
      this.stats.beforeAdmission++;
      return 'decrypt_failed';
    }
    let result = await this.tryAll(wire);
    if (result === 'decrypt_failed' && this.pending) {
      await this.pending;
      result = await this.tryAll(wire);
    }
    if (typeof result !== 'string') this.stats.received++;
    else if (result === 'malformed') this.stats.malformed++;
    else if (result === 'replayed') this.stats.replayed++;
    else this.stats.decryptFailed++;
    return result;
  }

  private async tryAll(wire: Uint8Array): Promise<OpenedFrame | OpenFailure> {
    // Before this peer is admitted it holds no epoch: nothing opens (not even a frame from before it joined).
    if (!this.current) return 'decrypt_failed';
    const result = await this.current.open(wire);
    if (result !== 'decrypt_failed') return result;
    const now = this.now();
    this.earlier = this.earlier.filter((e) => e.until >= now);
    for (const { opener } of this.earlier) {
      const older = await opener.open(wire);
      if (older !== 'decrypt_failed') return older;
    }
    return result;
  }

  /** Derives a sender's keys under the current epoch ahead of its first frame. */
  warm(senderId: bigint): void {
    this.current?.warm(senderId);
  }

  forget(senderId: bigint): void {
    this.current?.forget(senderId);
    for (const { opener } of this.earlier) opener.forget(senderId);
  }
}
