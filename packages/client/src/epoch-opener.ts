/**
 * Opens audio across epochs (issue 14): the frames of every sender under the current epoch's
 * secret, and for a short grace after a change under the previous one too (frames sealed before
 * their sender learnt of the change are still on their way). Past the grace the previous secret is
 * dropped, so what this peer holds opens nothing older than one epoch back. A frame that fails
 * while a change is being applied (a sender that applied it first) is tried again once it is.
 */
import { FrameOpener, OpenFailure, OpenedFrame, OpenerStats } from '@studioline/protocol';

/** How long frames under the previous epoch are still opened (ms). */
export const EPOCH_GRACE_MS = 2000;

/** What the call core needs of an audio opener (FrameOpener is one, for a line without membership). */
export interface AudioOpener {
  readonly stats: OpenerStats;
  open(wire: Uint8Array): Promise<OpenedFrame | OpenFailure>;
  forget(senderId: bigint): void;
}

export class EpochOpener implements AudioOpener {
  readonly stats: OpenerStats = { received: 0, malformed: 0, replayed: 0, decryptFailed: 0 };
  private current?: FrameOpener;
  private previous?: { opener: FrameOpener; until: number };
  private pending?: Promise<unknown>;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** The epoch changed: frames open under `secret` from now on (and under the one before, for the grace). */
  setSecret(secret: Uint8Array): void {
    if (this.current) this.previous = { opener: this.current, until: this.now() + EPOCH_GRACE_MS };
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
    if (result !== 'decrypt_failed' || !this.previous) return result;
    if (this.now() > this.previous.until) {
      this.previous = undefined;
      return result;
    }
    const older = await this.previous.opener.open(wire);
    return older === 'decrypt_failed' ? result : older;
  }

  forget(senderId: bigint): void {
    this.current?.forget(senderId);
    this.previous?.opener.forget(senderId);
  }
}
