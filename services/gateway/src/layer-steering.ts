/**
 * Carries out the step-down policy (layer-step.ts) for this gateway's receivers: sends each its
 * probes (websocket pings), reads their answers, and when a receiver steps down a layer or back up
 * tells its relay (a `ceiling` envelope), tells the peer (a `layer` message, shown on the page) and
 * counts the switch.
 */
import { LAYER_COUNT, LAYER_NAMES } from '@studioline/protocol';
import { GatewayConfig } from './config.js';
import { ReceiverStep, StepDecision } from './layer-step.js';
import { LineRouting } from './line-routing.js';
import { GatewayMetrics } from './metrics.js';
import { Session } from './session.js';
import { Sessions } from './sessions.js';

/** How often probes are sent and their lateness checked. */
export const STEERING_TICK_MS = 50;
/** A tick this much later than due means this process stalled: the probes out measured that, not the links. */
const STALL_MS = 100;
/** A probe's ping payload: these two bytes, then its sequence number (the liveness ping has none). */
const PROBE_MARK = 0x534c;
const PROBE_BYTES = 6;

export class LayerSteering {
  constructor(
    private readonly config: GatewayConfig,
    private readonly sessions: Sessions,
    private readonly routing: LineRouting,
    private readonly metrics: GatewayMetrics,
  ) {}

  private lastTickAt = performance.now();

  /** A peer that joined: from now on it may be stepped down from the layer it asked for. */
  track(session: Session): void {
    session.step = new ReceiverStep(session.receiveLayer, this.config.layerStepCalmMs, performance.now());
  }

  /** A pong from `session`: the answer to one of its probes, or to the liveness ping. */
  onPong(session: Session, data: Buffer): void {
    if (!session.step || data.length !== PROBE_BYTES || data.readUInt16BE(0) !== PROBE_MARK) return;
    const now = performance.now();
    // Read late because this process stalled (its tick is overdue): the answer measured the stall.
    if (this.stalled(now)) return session.step.forgetProbe(now);
    this.apply(session, session.step.answered(data.readUInt32BE(2), now));
  }

  /** Every STEERING_TICK_MS: probes out, trouble from probes unanswered, calm receivers back up. */
  tick(): void {
    const now = performance.now();
    const stalled = this.stalled(now);
    this.lastTickAt = now;
    for (const session of this.sessions.values()) {
      const step = session.step;
      if (stalled) step?.forgetProbe(now);
      // A mobile peer has no worse layer to go to: it is not probed.
      if (session.state !== 'joined' || !step || step.wanted === LAYER_COUNT - 1) continue;
      const seq = step.probe(now);
      if (seq !== undefined) {
        const payload = Buffer.alloc(PROBE_BYTES);
        payload.writeUInt16BE(PROBE_MARK, 0);
        payload.writeUInt32BE(seq, 2);
        session.ws.ping(payload);
      }
      this.apply(session, step.tick(now));
    }
  }

  private stalled(now: number): boolean {
    return now - this.lastTickAt > STEERING_TICK_MS + STALL_MS;
  }

  private apply(session: Session, decision: StepDecision | undefined): void {
    if (!decision) return;
    this.routing.setCeiling(session, decision.ceiling);
    this.sessions.send(session, { type: 'layer', layer: LAYER_NAMES[decision.ceiling], reason: decision.reason });
    this.metrics.layerSwitches.inc({ direction: decision.reason === 'calm' ? 'up' : 'down', reason: decision.reason });
  }
}
