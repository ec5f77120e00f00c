/**
 * Line routing: which relay owns each line (rendezvous hashing over the live relays), announcing
 * this gateway's peers there (join, leave), the relays' answers and membership events, and moving
 * lines when relays come and go or the store comes back.
 */
import { ControlEnvelope } from '@studioline/protocol';
import { Backend, Logger } from '@studioline/server-kit';
import { GatewayConfig } from './config.js';
import { GatewayMetrics } from './metrics.js';
import { RelayRouter } from './relay-router.js';
import { Session } from './session.js';
import { Sessions } from './sessions.js';

export class LineRouting {
  private readonly router: RelayRouter;

  constructor(
    private readonly gatewayId: string,
    private readonly config: GatewayConfig,
    private readonly backend: Backend,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
    private readonly sessions: Sessions,
  ) {
    this.router = new RelayRouter(backend.relays, logger, () => this.rehomeLines());
  }

  get liveRelays(): number {
    return this.router.liveRelays.length;
  }

  relayFor(line: string): string | undefined {
    return this.router.relayFor(line);
  }

  /** Re-reads the live relays (lines whose owner changed move at once). */
  refresh(): Promise<void> {
    return this.router.refresh();
  }

  /** Announces a session to the relay that owns its line; audio waits for the relay's answer. */
  join(session: Session, relay: string, rejoin: boolean): void {
    session.relay = relay;
    session.relayChannel = this.backend.names.relayChannel(relay);
    session.member = 0;
    session.joinSentAt = Date.now();
    this.publish(session.relayChannel, {
      t: 'join',
      gw: this.gatewayId,
      conn: session.conn,
      line: session.line as string,
      sender: session.sender as string,
      capacity: session.capacity ?? this.config.lineCapacity,
      rejoin,
      layers: session.layers,
      receive: session.receiveLayer,
      ceiling: session.step?.ceiling ?? session.receiveLayer,
    });
  }

  /** Tells the relay of `session`'s line the best layer to send it now (layer-steering.ts). */
  setCeiling(session: Session, ceiling: number): void {
    if (session.member && session.relayChannel) this.publish(session.relayChannel, { t: 'ceiling', gw: this.gatewayId, member: session.member, ceiling });
  }

  leave(session: Session): void {
    if (session.member && session.relayChannel) this.publish(session.relayChannel, { t: 'leave', gw: this.gatewayId, member: session.member });
    session.member = 0;
  }

  /** A control envelope from a relay: a join's answer, or a peer joining or leaving a line. */
  onControl(msg: Buffer): void {
    try {
      this.handleControl(JSON.parse(msg.toString('utf8')) as ControlEnvelope);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'bad control envelope');
    }
  }

  private handleControl(env: ControlEnvelope): void {
    const { sessions } = this;
    if (env.t === 'joined') {
      const session = sessions.get(env.conn);
      if (!session || session.state === 'closed' || session.relay !== env.relay) {
        // Stale: the peer left or its line moved while the relay answered. Undo it there.
        this.publish(this.backend.names.relayChannel(env.relay), { t: 'leave', gw: this.gatewayId, member: env.member });
        return;
      }
      session.member = env.member;
      if (session.state === 'routing') {
        clearTimeout(session.timer);
        session.state = 'joined';
        sessions.send(session, {
          type: 'joined',
          line: session.line as string,
          sender: session.sender as string,
          peers: env.peers,
          // A relay of the previous version (during a rolling update) does not say: what was asked.
          capacity: env.capacity ?? session.capacity ?? this.config.lineCapacity,
          budgetBps: this.config.budgetBps,
        });
      }
    } else if (env.t === 'refused') {
      const session = sessions.get(env.conn);
      if (session && session.state === 'routing') sessions.refuse(session, env.code);
    } else if (env.t === 'peer') {
      const type = env.event === 'joined' ? 'peer_joined' : 'peer_left';
      for (const conn of env.conns) {
        const session = sessions.get(conn);
        if (session?.state === 'joined') sessions.send(session, { type, sender: env.sender });
      }
    }
  }

  /**
   * The bus delivers at most once: a join (or its answer) lost to a reconnecting store would leave
   * a peer without a route. Joins unanswered for a second are sent again (relays dedupe): a
   * re-announced peer's, and a new peer's (whose first join may have gone to a Cluster node that had
   * just lost the relay channel's slot: resharding).
   */
  retryUnansweredJoins(): void {
    const now = Date.now();
    for (const session of this.sessions.values()) {
      const unanswered = (session.state === 'joined' && session.member === 0) || session.state === 'routing';
      if (unanswered && session.relay && now - session.joinSentAt > 1000) this.join(session, session.relay, session.state === 'joined');
    }
  }

  /** After a store outage, tells every relay again who is on its lines (relays dedupe). */
  reannounceAll(): void {
    for (const session of this.sessions.values()) {
      if (session.state !== 'joined' || !session.line) continue;
      const relay = this.router.relayFor(session.line);
      if (relay) this.join(session, relay, true);
    }
  }

  /** Moves each line whose owner changed to its new relay, re-announcing this gateway's peers there. */
  private rehomeLines(): void {
    for (const [line, sessions] of this.sessions.lines()) {
      const relay = this.router.relayFor(line);
      let moved = false;
      for (const session of sessions) {
        if (session.relay === relay || (session.state !== 'joined' && session.state !== 'routing')) continue;
        if (session.relay && this.router.isLive(session.relay)) this.leave(session);
        moved = true;
        if (relay) this.join(session, relay, true);
        else {
          session.relay = undefined;
          session.member = 0;
        }
      }
      if (moved) this.metrics.rehomes.inc();
    }
  }

  private publish(channel: string, env: ControlEnvelope): void {
    this.backend.bus.publish(channel, Buffer.from(JSON.stringify(env)));
  }
}
