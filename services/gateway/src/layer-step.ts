/**
 * When to step a receiver down a layer, and back up: one {@link ReceiverStep} per joined peer,
 * pure logic on the time given (the tests drive it in simulated time). The relay then forwards it
 * the best layer at or below its ceiling (layer-routing.ts there); layer-steering.ts sends the
 * probes and carries the decisions out.
 *
 * Trouble is a queue on the way to the receiver. Audio reaches it over TCP, so a link that cannot
 * carry the stream does not lose frames: it queues them, first in the kernel's buffers (megabytes:
 * this socket's own unsent count stays at zero for seconds), and each frame arrives later than the
 * one before. The gateway measures that queue with websocket pings, one every PROBE_INTERVAL_MS
 * while none is unanswered: a ping waits behind everything sent before it, and the peer answers
 * it on arrival (a browser in its network stack, at once). A probe is queued when its round trip
 * exceeds the least round trip of the last BASELINE_WINDOW_MS by QUEUE_MS, or, unanswered, when it
 * has been out that long already; a queue that lasts HOLD_MS is trouble, and the ceiling goes down
 * one layer at once. The hold tells a congested link (the queue grows while the link stays
 * congested) from a receiver that paused a moment (its backlog is read at once). A sender that
 * fell behind does not count: the probes measure only the way from here to the receiver.
 *
 * Calm: no trouble for `calmMs` (5 s by default), and the ceiling goes back up one layer. A step
 * up that meets trouble again within PROBE_MS failed: the calm needed doubles (up to MAX_CALM_MS),
 * so a link that cannot carry the better layer is tried less and less often instead of flapping;
 * a step up that holds for PROBE_MS brings the calm needed back to `calmMs`.
 */
import { LAYER_COUNT, LayerChangeReason } from '@studioline/protocol';

/** A probe is sent this often while none is unanswered. */
export const PROBE_INTERVAL_MS = 200;
/** A probe this much slower than the least recent round trip sat in a queue... */
export const QUEUE_MS = 50;
/** ...and a queue that lasts this long is trouble. */
export const HOLD_MS = 500;
/**
 * Probes start this long after the join: a peer that just started is busy loading its code and
 * compiling its codecs (a Node peer on a loaded machine was seen not reading for 2 s), which is
 * no sign of its link.
 */
export const SETTLE_MS = 3000;
/** The least round trip is taken over this long (in buckets of a second). */
export const BASELINE_WINDOW_MS = 10_000;
/** A step up that meets trouble within this long failed. */
export const PROBE_MS = 10_000;
/** The longest calm a receiver must show before another try at the better layer. */
export const MAX_CALM_MS = 80_000;

export interface StepDecision {
  /** The new ceiling (a layer number: 0 the best). */
  ceiling: number;
  reason: LayerChangeReason;
}

export class ReceiverStep {
  /** The best layer it is sent now: `wanted` or worse. */
  ceiling: number;
  private probes = 0;
  private outstanding?: { seq: number; sentAt: number };
  private lastProbeAt: number;
  /** The least round trip in each recent second, oldest first. */
  private baseline: { second: number; rtt: number }[] = [];
  /** Since when probes have been queued, without a break. */
  private queuedSince?: number;
  private lastTroubleAt = -Infinity;
  private steppedUpAt = -Infinity;
  private calmNeededMs: number;

  /**
   * @param wanted the best layer it asked for (it never gets better)
   * @param calmMs the calm before a step up (LAYER_STEP_CALM_MS)
   * @param joinedAt when it joined (the first probe goes SETTLE_MS later)
   */
  constructor(
    readonly wanted: number,
    private readonly calmMs: number,
    joinedAt: number,
  ) {
    this.lastProbeAt = joinedAt + SETTLE_MS - PROBE_INTERVAL_MS;
    this.ceiling = wanted;
    this.calmNeededMs = calmMs;
  }

  /** The sequence number of a probe to send now, or undefined (one is out, or it is not time yet). */
  probe(now: number): number | undefined {
    if (this.outstanding || now - this.lastProbeAt < PROBE_INTERVAL_MS) return undefined;
    this.lastProbeAt = now;
    this.outstanding = { seq: ++this.probes, sentAt: now };
    return this.outstanding.seq;
  }

  /**
   * This process stalled (its event loop held up): a probe out meanwhile measured the stall too,
   * not only the link. It is forgotten, and so is the queue it may have shown; the next goes soon.
   */
  forgetProbe(now: number): void {
    this.outstanding = undefined;
    this.queuedSince = undefined;
    this.lastProbeAt = Math.min(this.lastProbeAt, now - PROBE_INTERVAL_MS);
  }

  /** The answer to probe `seq` arrived at `now`. */
  answered(seq: number, now: number): StepDecision | undefined {
    const probe = this.outstanding;
    if (!probe || probe.seq !== seq) return undefined;
    this.outstanding = undefined;
    const rtt = now - probe.sentAt;
    this.recordRtt(rtt, now);
    if (rtt - this.leastRtt() <= QUEUE_MS) {
      this.queuedSince = undefined;
      return undefined;
    }
    return this.queued(probe.sentAt, now);
  }

  /** Called every so often: trouble from a probe still out, or a step up after enough calm. */
  tick(now: number): StepDecision | undefined {
    const probe = this.outstanding;
    // Before any answer the least round trip counts as 0: a link slow from the start is answered
    // (and so measured) well within the hold, a link congested from the start is not.
    if (probe && now - probe.sentAt - this.leastRtt() > QUEUE_MS) return this.queued(probe.sentAt, now);
    if (this.ceiling === this.wanted) {
      if (now - this.steppedUpAt >= PROBE_MS) this.calmNeededMs = this.calmMs;
      return undefined;
    }
    if (now - this.lastTroubleAt < this.calmNeededMs) return undefined;
    this.ceiling--;
    this.steppedUpAt = now;
    return { ceiling: this.ceiling, reason: 'calm' };
  }

  /** A probe sent at `sentAt` sat in a queue (it is `now`): trouble once the queue has lasted HOLD_MS. */
  private queued(sentAt: number, now: number): StepDecision | undefined {
    this.queuedSince ??= sentAt + this.leastRtt() + QUEUE_MS;
    if (now - this.queuedSince < HOLD_MS) return undefined;
    return this.trouble(now);
  }

  private trouble(now: number): StepDecision | undefined {
    this.lastTroubleAt = now;
    if (now - this.steppedUpAt < PROBE_MS) {
      this.calmNeededMs = Math.min(this.calmNeededMs * 2, MAX_CALM_MS);
      this.steppedUpAt = -Infinity; // one failure per step up
    }
    if (this.ceiling >= LAYER_COUNT - 1) return undefined;
    this.ceiling++;
    return { ceiling: this.ceiling, reason: 'congested' };
  }

  private recordRtt(rtt: number, now: number): void {
    const second = Math.floor(now / 1000);
    while (this.baseline.length && this.baseline[0].second <= second - BASELINE_WINDOW_MS / 1000) this.baseline.shift();
    const last = this.baseline[this.baseline.length - 1];
    if (last?.second === second) last.rtt = Math.min(last.rtt, rtt);
    else this.baseline.push({ second, rtt });
  }

  private leastRtt(): number {
    let least = Infinity;
    for (const b of this.baseline) least = Math.min(least, b.rtt);
    return least === Infinity ? 0 : least;
  }
}
