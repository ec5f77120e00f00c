/**
 * The relay: owns lines (members, capacity) and fans each audio frame out to the other members,
 * one publish per destination gateway.
 */
import { randomBytes } from 'node:crypto';
import {
  AudioEnvelope,
  ControlEnvelope,
  LAYER_NAMES,
  layerNumber,
  decodeAudioEnvelope,
  isAudioEnvelope,
  isControlEnvelope,
  stampDeliverHeader,
  wireControlSender,
  wireFrameLayer,
  wireFrameLevel,
} from '@studioline/protocol';
import { Backend, Logger, Registry, once, runAll } from '@studioline/server-kit';
import { RelayConfig } from './config.js';
import { DeliverTarget, LineTable, Member } from './line-table.js';
import { RelayMetrics, createRelayMetrics } from './metrics.js';
import { SpeakerSelection } from './speaker-selection.js';

export interface RelayDeps {
  backend: Backend;
  logger: Logger;
  registry: Registry;
}

export class RelayService {
  readonly id = 'relay-' + randomBytes(6).toString('hex');
  private readonly table: LineTable;
  private readonly metrics: RelayMetrics;
  /** Who is forwarded to whom on group lines (speaker-selection.ts). */
  private readonly speakers: SpeakerSelection<Member, DeliverTarget>;
  private readonly channel: string;
  private heartbeat?: NodeJS.Timeout;
  private draining = false;
  /** Since when the store has answered without a break (ms). */
  private storeUpSince = Date.now();

  private constructor(
    private readonly config: RelayConfig,
    private readonly deps: RelayDeps,
  ) {
    this.table = new LineTable((gateway) => deps.backend.names.gatewayChannel(gateway));
    this.metrics = createRelayMetrics(deps.registry, { lines: () => this.table.lineCount, members: () => this.table.memberCount });
    this.speakers = new SpeakerSelection<Member, DeliverTarget>({
      speakers: { full: config.maxSpeakers, compact: config.maxCompactSpeakers },
      targetsTo: (speaker, listeners, layer) => this.table.layerTargetsTo(speaker, listeners, layerNumber(layer)),
      onChange: (layer) => this.metrics.speakerChanges.inc({ layer }),
    });
    this.channel = deps.backend.names.relayChannel(this.id);
  }

  static create(config: RelayConfig, deps: RelayDeps): RelayService {
    return new RelayService(config, deps);
  }

  async start(): Promise<void> {
    const { backend, logger } = this.deps;
    await backend.bus.subscribe(this.channel, (msg) => this.onMessage(msg));
    await this.beat();
    backend.bus.publish(backend.names.relaysChanged(), Buffer.from(this.id));
    this.heartbeat = setInterval(() => void this.beat(), this.config.heartbeatMs);
    // After a Redis outage every registration may have lapsed: announce at once that we are back.
    backend.onReconnect(() => {
      this.storeUpSince = Date.now();
      void this.beat().then(() => backend.bus.publish(backend.names.relaysChanged(), Buffer.from(this.id)));
    });
    logger.info({ relay: this.id }, 'relay started');
  }

  /** Renews the registration and forgets the members of gateways that died. */
  private async beat(): Promise<void> {
    if (this.draining) return;
    const { backend, logger } = this.deps;
    try {
      await backend.relays.heartbeat(this.id, this.config.registrationTtlMs);
      if (this.storeUpSince === Infinity) this.storeUpSince = Date.now();
      if (Date.now() - this.storeUpSince < this.config.gatewayGraceMs) return;
      const gone = this.table.membersOfGateways(new Set(await backend.gateways.live()));
      for (const member of gone) this.leave(member);
      if (gone.length) logger.info({ members: gone.length }, 'forgot the members of gateways that stopped');
    } catch (err) {
      this.storeUpSince = Infinity;
      logger.warn({ err: (err as Error).message }, 'relay heartbeat failed');
    }
  }

  private onMessage(msg: Buffer): void {
    if (isAudioEnvelope(msg)) return this.onAudio(msg);
    if (!isControlEnvelope(msg)) {
      this.metrics.drops.inc({ reason: 'malformed' });
      return;
    }
    let env: ControlEnvelope;
    try {
      env = JSON.parse(msg.toString('utf8'));
    } catch {
      this.metrics.drops.inc({ reason: 'malformed' });
      return;
    }
    if (env.t === 'join') this.onJoin(env);
    else if (env.t === 'leave') {
      const member = this.table.member(env.member);
      if (member && member.gateway === env.gw) this.leave(member);
    } else if (env.t === 'ceiling') this.onCeiling(env);
  }

  private onAudio(msg: Buffer): void {
    this.metrics.framesIn.inc();
    let env: AudioEnvelope;
    try {
      env = decodeAudioEnvelope(msg);
    } catch {
      return this.metrics.drops.inc({ reason: 'malformed' }); // decode throws only EnvelopeError
    }
    const member = this.table.member(env.member);
    if (!member) return this.metrics.drops.inc({ reason: 'unknown_member' });
    const { frame, sentAt } = env;
    // A membership message (issue 14): to every other member, whatever its layer or loudness.
    if (wireControlSender(frame) >= 0) return this.forward(member.targets, frame, sentAt);
    // Each receiver gets one layer of this sender (layer-routing.ts): the frame goes to those that get its layer.
    const layer = wireFrameLayer(frame);
    const layerTargets = member.layerTargets[layer];
    if (!layerTargets) return this.metrics.drops.inc({ reason: 'malformed' });
    if (member.missed[layer]) this.metrics.drops.inc({ reason: 'no_layer' }, member.missed[layer]);
    // Group lines: the loudest speakers of each layer only, each listener exactly that layer's count (speaker-selection.ts).
    const targets = this.speakers.targets(member, layerTargets, wireFrameLevel(frame), performance.now(), LAYER_NAMES[layer]);
    if (!targets) return this.metrics.drops.inc({ reason: 'not_loudest' });
    this.forward(targets, frame, sentAt);
  }

  private forward(targets: readonly DeliverTarget[], frame: Buffer, sentAt: number): void {
    const { bus } = this.deps.backend;
    for (const target of targets) {
      // A small header per destination (its connections and the frame's sentAt); the frame itself is not copied.
      const header = stampDeliverHeader(target.header, sentAt);
      if (bus.publish(target.channel, header, frame)) {
        this.metrics.framesOut.inc();
        this.metrics.bytesOut.inc(header.length + frame.length);
      } else this.metrics.drops.inc({ reason: 'bus_down' });
    }
  }

  private onJoin(env: Extract<ControlEnvelope, { t: 'join' }>): void {
    const { bus, names } = this.deps.backend;
    const reply = (body: ControlEnvelope) => bus.publish(names.gatewayChannel(env.gw), Buffer.from(JSON.stringify(body)));
    let member = this.table.find(env.gw, env.conn, env.line);
    // The sender id is half of the SFrame nonce domain: two peers of a line must not share one,
    // wherever they connect (the gateway compares only its own peers). A re-announced peer was
    // admitted once already and is not refused (it could not be told: it is in a call).
    if (!member && !env.rejoin && this.table.senderTaken(env.line, env.sender)) {
      this.metrics.joinsRefused.inc({ reason: 'duplicate_sender' });
      reply({ t: 'refused', conn: env.conn, code: 'bad_request' });
      return;
    }
    if (!member) {
      member = this.table.add(env.line, env.capacity, env.gw, env.conn, env.sender, env.rejoin, env.layers, env.receive, env.ceiling);
      if (!member) {
        this.metrics.joinsRefused.inc({ reason: 'line_full' });
        reply({ t: 'refused', conn: env.conn, code: 'line_full' });
        return;
      }
      this.announce(member, 'joined');
    }
    reply({ t: 'joined', relay: this.id, conn: env.conn, member: member.id, peers: member.line.members.filter((m) => m !== member).map((m) => m.sender), capacity: member.line.capacity });
  }

  /** A receiver's gateway stepped it down a layer, or back up (layer-step.ts there). */
  private onCeiling(env: Extract<ControlEnvelope, { t: 'ceiling' }>): void {
    const member = this.table.member(env.member);
    if (!member || member.gateway !== env.gw) return;
    if (this.table.setCeiling(member, env.ceiling)) {
      this.speakers.routesChanged(member.line);
      this.metrics.ceilingChanges.inc();
    }
  }

  private leave(member: Member): void {
    this.speakers.leave(member);
    this.table.remove(member);
    this.announce(member, 'left');
  }

  /**
   * Tells the other members' gateways that `member` joined or left. Its targets name them: they are
   * rebuilt on every membership change, so a member that just left still holds the others.
   */
  private announce(member: Member, event: 'joined' | 'left'): void {
    for (const target of member.targets) {
      const body: ControlEnvelope = { t: 'peer', event, conns: target.conns, sender: member.sender };
      this.deps.backend.bus.publish(target.channel, Buffer.from(JSON.stringify(body)));
    }
  }

  /**
   * Leaves the directory at once (gateways move the lines to other relays without waiting for the
   * registration to lapse), then stops.
   */
  readonly destroy = once(async () => {
    const { backend, logger } = this.deps;
    this.draining = true;
    clearInterval(this.heartbeat);
    await runAll([
      () => backend.relays.remove(this.id),
      () => backend.bus.publish(backend.names.relaysChanged(), Buffer.from(this.id)),
      () => backend.bus.unsubscribe(this.channel),
    ]);
    logger.info({ relay: this.id, lines: this.table.lineCount }, 'relay stopped');
  });
}
