/**
 * A peer's text messages: its join (the sender id, the key, the line, the relay that owns it),
 * pings, and what the protocol does not allow. Text counts against the budget like audio, so a
 * peer cannot push text past it.
 */
import { ClientMessage, layerNumber, parseClientMessage, senderIdFromText } from '@studioline/protocol';
import { Authenticator } from './authentication.js';
import { GatewayMetrics } from './metrics.js';
import { KeyLimitsPolicy } from './key-limits.js';
import { LayerSteering } from './layer-steering.js';
import { LineRouting } from './line-routing.js';
import { Session } from './session.js';
import { Sessions } from './sessions.js';

/** Messages the protocol does not allow (after the join, anything but a ping) before a peer is closed with bad_request. */
const MAX_PROTOCOL_VIOLATIONS = 20;

/** A relay that has not answered a join in this time is treated as gone. */
const JOIN_REPLY_TIMEOUT_MS = 3000;

export class JoinHandler {
  constructor(
    private readonly sessions: Sessions,
    private readonly auth: Authenticator,
    private readonly routing: LineRouting,
    private readonly metrics: GatewayMetrics,
    private readonly limits: KeyLimitsPolicy,
    private readonly steering: LayerSteering,
  ) {}

  onText(session: Session, data: Buffer): void {
    const now = performance.now();
    if (!session.inBudget.take(data.length, now)) {
      this.metrics.drops.inc({ reason: 'over_budget' });
      this.metrics.budgetExceeded.inc({ direction: 'in' });
      return this.sessions.warn(session, 'over_budget', now);
    }
    const msg = parseClientMessage(data.toString());
    if (msg?.type === 'ping') return this.sessions.send(session, { type: 'pong', t: msg.t, ...(session.serverMs === undefined ? {} : { serverMs: Math.round(session.serverMs * 10) / 10 }) });
    if (session.state === 'joining') return void this.onJoin(session, msg);
    this.metrics.drops.inc({ reason: 'not_allowed' });
    if (++session.violations > MAX_PROTOCOL_VIOLATIONS) this.sessions.refuse(session, 'bad_request');
  }

  private async onJoin(session: Session, msg: ClientMessage | undefined): Promise<void> {
    const { sessions } = this;
    if (msg?.type !== 'join') return sessions.refuse(session, 'bad_request');
    // The sender id is half of the SFrame nonce domain: 0 is not one (and two peers of a line must
    // not share one: checked below, once the key is known good).
    const senderNumber = Number(senderIdFromText(msg.sender) ?? 0n);
    if (senderNumber === 0) return sessions.refuse(session, 'bad_request');
    clearTimeout(session.timer);
    session.state = 'verifying';
    const key = await this.auth.check(session, msg.apikey);
    if (!key || session.state !== 'verifying') return; // refused, or closed meanwhile
    // The key's own limits, across gateways (key-limits.ts): a seat held from here is given back
    // when the session closes, whatever refuses it below.
    const refusal = await this.limits.admit(session, key.keyId, key.limits, msg);
    if (refusal) return sessions.refuse(session, refusal);
    if (session.state !== 'verifying') return; // closed meanwhile (its seat went back)
    // Synchronous from here to addToLine: two joins with one sender id cannot both pass. Peers of
    // the line on other gateways are the relay's to compare.
    for (const other of sessions.onLine(msg.line)) if (other.senderNumber === senderNumber) return sessions.refuse(session, 'bad_request');
    this.auth.admit(session, key);
    session.line = msg.line;
    session.sender = msg.sender;
    session.senderNumber = senderNumber;
    session.layers = msg.layers.reduce((mask, name) => mask | (1 << layerNumber(name)), 0);
    session.receiveLayer = layerNumber(msg.receive);
    this.steering.track(session);
    const relay = this.routing.relayFor(msg.line);
    if (!relay) return sessions.refuse(session, 'no_relay');
    sessions.addToLine(session);
    session.state = 'routing';
    this.routing.join(session, relay, false);
    session.timer = setTimeout(() => session.state === 'routing' && sessions.refuse(session, 'no_relay'), JOIN_REPLY_TIMEOUT_MS);
  }
}
