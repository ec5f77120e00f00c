/**
 * The audio path, both ways, with no JSON and no copy of a frame: from a peer (its sender id and
 * its budget checked) to the relay that owns its line in an AUDIO envelope, and from a relay's
 * DELIVER envelope to the local peers it names (each under its budget and its socket's buffer).
 */
import {
  DeliverEnvelope,
  LAYER_COMPACT,
  MAX_COMPACT_WIRE_FRAME_BYTES,
  compactSocketBytes,
  decodeDeliverEnvelope,
  encodeAudioHeader,
  preciseNow,
  wireFrameKid,
  wireKidLayer,
  wireControlSender,
  wireKidSender,
} from '@studioline/protocol';
import { Backend } from '@studioline/server-kit';
import { GatewayConfig } from './config.js';
import { GatewayMetrics } from './metrics.js';
import { Session } from './session.js';
import { Sessions } from './sessions.js';

/** Smoothing of a session's serverMs: an exponential average over about the last 20 frames. */
const SERVER_MS_SMOOTHING = 0.05;

export class AudioPath {
  constructor(
    private readonly config: GatewayConfig,
    private readonly backend: Backend,
    private readonly metrics: GatewayMetrics,
    private readonly sessions: Sessions,
  ) {}

  /** A binary message from a peer. Audio before the join is a protocol error; after a close it is dropped. */
  fromPeer(session: Session, frame: Buffer): void {
    if (session.state !== 'joined') {
      if (session.state === 'joining') return this.sessions.refuse(session, 'bad_request');
      this.metrics.drops.inc({ reason: 'not_joined' });
      return;
    }
    const length = frame.length;
    this.metrics.framesIn.inc();
    this.metrics.bytesIn.inc(length);
    session.bytesIn += length;
    const now = performance.now();
    const kid = wireFrameKid(frame);
    // A membership message (issue 14, membership-wire.ts) is on the peer's own control stream: no layer, same budget.
    const control = kid < 0 && wireControlSender(frame) === session.senderNumber;
    if (!control && (kid < 0 || wireKidSender(kid) !== session.senderNumber)) {
      this.metrics.drops.inc({ reason: 'malformed' });
      return this.sessions.warn(session, 'malformed_frame', now);
    }
    // The layer is the relay's to route by: only layers the peer declared at its join pass (a
    // mobile peer sends only the compact one), and compact frames stay within what a mobile
    // receiver's budget was promised, in size and in bytes a second (compact-layer.ts).
    const layer = control ? -1 : wireKidLayer(kid);
    if (!control && (session.layers & (1 << layer)) === 0) {
      this.metrics.drops.inc({ reason: 'wrong_layer' });
      return this.sessions.warn(session, 'malformed_frame', now);
    }
    if (layer === LAYER_COMPACT) {
      if (length > MAX_COMPACT_WIRE_FRAME_BYTES) {
        this.metrics.drops.inc({ reason: 'compact_too_big' });
        return this.sessions.warn(session, 'malformed_frame', now);
      }
      if (!session.compactBudget.take(compactSocketBytes(length), now)) {
        this.metrics.drops.inc({ reason: 'compact_over_budget' });
        return this.sessions.warn(session, 'over_budget', now);
      }
    }
    if (!session.inBudget.take(length, now)) {
      this.metrics.drops.inc({ reason: 'over_budget' });
      this.metrics.budgetExceeded.inc({ direction: 'in' });
      return this.sessions.warn(session, 'over_budget', now);
    }
    if (session.member === 0) {
      this.metrics.drops.inc({ reason: 'no_route' });
      return;
    }
    // Header and frame are published as two parts (the bus writes them together): the frame is not copied.
    const header = encodeAudioHeader(session.member, preciseNow());
    if (!this.backend.bus.publish(session.relayChannel as string, header, frame)) this.metrics.drops.inc({ reason: 'bus_down' });
  }

  /** A DELIVER envelope from a relay: the frame goes to each named local peer that can take it. */
  deliver(msg: Buffer): void {
    let env: DeliverEnvelope;
    try {
      env = decodeDeliverEnvelope(msg);
    } catch {
      return this.metrics.drops.inc({ reason: 'malformed' }); // decode throws only EnvelopeError
    }
    const { frame, conns } = env;
    const hopMs = preciseNow() - env.sentAt;
    this.metrics.hopLatency.observe(hopMs / 1000);
    const now = performance.now();
    for (let i = 0; i < conns.length; i++) {
      const session = this.sessions.get(conns[i]);
      if (!session || session.state !== 'joined') {
        this.metrics.drops.inc({ reason: 'unknown_conn' });
        continue;
      }
      if (session.ws.bufferedAmount > this.config.slowReaderBytes) {
        this.metrics.drops.inc({ reason: 'slow_reader' });
        continue;
      }
      if (!session.outBudget.take(frame.length, now)) {
        this.metrics.drops.inc({ reason: 'over_budget' });
        this.metrics.budgetExceeded.inc({ direction: 'out' });
        continue;
      }
      session.ws.send(frame);
      session.serverMs = session.serverMs === undefined ? hopMs : session.serverMs + (hopMs - session.serverMs) * SERVER_MS_SMOOTHING;
      session.bytesOut += frame.length;
      this.metrics.framesOut.inc();
      this.metrics.bytesOut.inc(frame.length);
    }
  }
}
