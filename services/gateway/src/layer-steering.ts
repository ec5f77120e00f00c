/**
 * Carries out the step-down policy (layer-step.ts) for this gateway's receivers: sends each socket
 * its probes (websocket pings), reads their answers, and when a receiver steps down a layer or back
 * up tells the relay of each line it is on (a `ceiling` envelope), tells the peer (a `layer`
 * message, shown on the page) and counts the switch. The same happens when a channel socket's lead
 * channel changes (channel-layers.ts).
 */
import { LAYER_COUNT, LAYER_NAMES, LayerChangeReason } from '@studioline/protocol';
import { sessionCeiling } from './channel-layers.js';
import { GatewayConfig } from './config.js';
import { ReceiverStep, StepDecision } from './layer-step.js';
import { LineRouting } from './line-routing.js';
import { GatewayMetrics } from './metrics.js';
import { PeerSocket, Session } from './session.js';
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

  /**
   * A peer that joined a line: from now on its socket may be stepped down from the layer it asked
   * for (at its first join); the lines of a channel socket are put at their layers (channel-layers.ts).
   */
  track(session: Session): void {
    const { socket } = session;
    socket.step ??= new ReceiverStep(session.receiveLayer, this.config.layerStepCalmMs, performance.now());
    session.ceiling = sessionCeiling(session);
    this.refresh(socket, 'channels');
  }

  /** A pong from `socket`: the answer to one of its probes, or to the liveness ping. */
  onPong(socket: PeerSocket, data: Buffer): void {
    if (!socket.step || data.length !== PROBE_BYTES || data.readUInt16BE(0) !== PROBE_MARK) return;
    const now = performance.now();
    // Read late because this process stalled (its tick is overdue): the answer measured the stall.
    if (this.stalled(now)) return socket.step.forgetProbe(now);
    this.apply(socket, socket.step.answered(data.readUInt32BE(2), now));
  }

  /**
   * Tells each line of `socket` whose layer changed (its relay, and the peer on joined lines): after
   * a step, or when a channel socket's lead channel changed.
   */
  refresh(socket: PeerSocket, reason: LayerChangeReason): void {
    if (socket.closed) return;
    for (const session of this.sessions.sessionsOf(socket)) {
      if (session.state === 'closed' || session.state === 'joining' || session.state === 'verifying') continue;
      const ceiling = sessionCeiling(session);
      if (ceiling === session.ceiling) continue;
      session.ceiling = ceiling;
      this.routing.setCeiling(session, ceiling);
      if (session.state === 'joined') this.sessions.send(session, { type: 'layer', layer: LAYER_NAMES[ceiling], reason });
    }
  }

  /** Every STEERING_TICK_MS: probes out, trouble from probes unanswered, calm receivers back up. */
  tick(): void {
    const now = performance.now();
    const stalled = this.stalled(now);
    this.lastTickAt = now;
    for (const socket of this.sessions.allSockets()) {
      const step = socket.step;
      if (stalled) step?.forgetProbe(now);
      // A mobile peer has no worse layer to go to: it is not probed.
      if (!step || step.wanted === LAYER_COUNT - 1 || !this.sessions.isJoined(socket)) continue;
      const seq = step.probe(now);
      if (seq !== undefined) {
        const payload = Buffer.alloc(PROBE_BYTES);
        payload.writeUInt16BE(PROBE_MARK, 0);
        payload.writeUInt32BE(seq, 2);
        socket.ws.ping(payload);
      }
      this.apply(socket, step.tick(now));
    }
  }

  private stalled(now: number): boolean {
    return now - this.lastTickAt > STEERING_TICK_MS + STALL_MS;
  }

  private apply(socket: PeerSocket, decision: StepDecision | undefined): void {
    if (!decision) return;
    this.refresh(socket, decision.reason);
    this.metrics.layerSwitches.inc({ direction: decision.reason === 'calm' ? 'up' : 'down', reason: decision.reason });
  }
}
