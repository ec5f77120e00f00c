/**
 * The gateway: terminates peers' websockets, checks their API keys, and moves their audio to and
 * from the relay that owns each line, as binary envelopes on the bus. This file wires the parts,
 * one concern each:
 *   upgrade.ts         refusals before a socket exists (path, origin, per-address limits)
 *   sessions.ts        each socket's lifetime: join deadline, heartbeat, close codes
 *   join.ts            a peer's text messages: the join, pings, protocol violations
 *   authentication.ts  the key check under the failed-key limit, admission, revocation
 *   line-routing.ts    which relay owns a line; joins, leaves and their answers; re-homing
 *   audio-path.ts      frames from peers to relays and from relays to peers
 *   layer-steering.ts  stepping a troubled receiver down a layer and back (layer-step.ts)
 *   drain.ts           closing every session on shutdown
 */
import { randomBytes } from 'node:crypto';
import { Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { isControlEnvelope, isDeliverEnvelope } from '@studioline/protocol';
import { Backend, Logger, OpsServer, Registry, listen, once, runAll, serverUrl, startOpsServer } from '@studioline/server-kit';
import { AudioPath } from './audio-path.js';
import { Authenticator } from './authentication.js';
import { GatewayConfig } from './config.js';
import { drainSessions } from './drain.js';
import { createHttpApp } from './http-app.js';
import { JoinHandler } from './join.js';
import { KeyLimitsPolicy } from './key-limits.js';
import { LayerSteering, STEERING_TICK_MS } from './layer-steering.js';
import { LineRouting } from './line-routing.js';
import { GatewayMetrics, createGatewayMetrics } from './metrics.js';
import { Sessions } from './sessions.js';
import { SharedAddressLimits } from './shared-address-limits.js';
import { UpgradeGate } from './upgrade.js';

export interface GatewayDeps {
  backend: Backend;
  logger: Logger;
  registry: Registry;
}

export class GatewayService {
  readonly id = 'gw-' + randomBytes(6).toString('hex');
  private readonly metrics: GatewayMetrics;
  private readonly sessions: Sessions;
  private readonly routing: LineRouting;
  private readonly audio: AudioPath;
  private readonly steering: LayerSteering;
  private readonly auth: Authenticator;
  private readonly join: JoinHandler;
  private readonly addressLimits: SharedAddressLimits;
  private readonly keyLimits: KeyLimitsPolicy;
  private readonly channel: string;
  private readonly server: Server;
  private metricsServer?: OpsServer;
  private timers: NodeJS.Timeout[] = [];
  private draining = false;

  private constructor(
    readonly config: GatewayConfig,
    private readonly deps: GatewayDeps,
  ) {
    const { backend, logger, registry } = deps;
    this.metrics = createGatewayMetrics(registry, {
      connections: () => this.sessions.size,
      peers: () => this.sessions.joinedCount(),
      lines: () => this.sessions.lineCount,
      liveRelays: () => this.routing.liveRelays,
      storeUp: () => backend.isReady(),
      sendQueueMax: () => [...this.sessions.values()].reduce((max, s) => Math.max(max, s.ws.bufferedAmount), 0),
    });
    this.sessions = new Sessions(config, this.metrics, logger, {
      audio: (session, frame) => this.audio.fromPeer(session, frame),
      text: (session, data) => this.join.onText(session, data),
      pong: (session, data) => this.steering.onPong(session, data),
      detached: (session) => {
        this.routing.leave(session);
        this.keyLimits.release(session);
      },
    });
    this.routing = new LineRouting(this.id, config, backend, this.metrics, logger, this.sessions);
    this.steering = new LayerSteering(config, this.sessions, this.routing, this.metrics);
    this.audio = new AudioPath(config, backend, this.metrics, this.sessions);
    // Per-address caps and key checks across gateways (shared-address-limits.ts).
    const addressLimits = (this.addressLimits = new SharedAddressLimits(backend.addressCounts(this.id, config.registrationTtlMs), {
      ...config,
      maxWaitMs: config.joinTimeoutMs,
      renewMs: config.heartbeatMs,
      onWait: () => this.metrics.keyChecksWaited.inc(),
    }));
    this.auth = new Authenticator(config, backend, this.metrics, addressLimits, this.sessions, logger);
    // Per-key limits across gateways (key-limits.ts), on the same lease as the per-address counts.
    this.keyLimits = new KeyLimitsPolicy(backend.keySeats(this.id, config.registrationTtlMs), config);
    this.join = new JoinHandler(this.sessions, this.auth, this.routing, this.metrics, this.keyLimits, this.steering);
    this.channel = backend.names.gatewayChannel(this.id);
    const upgrades = new UpgradeGate({
      config,
      metrics: this.metrics,
      addressLimits,
      isDraining: () => this.draining,
      onSocket: (ws, address) => this.sessions.open(ws, address),
    });
    const app = createHttpApp({ registry, serveMetrics: config.metricsPort === 0, readiness: () => this.readiness(), webRoot: config.webRoot });
    this.server = createServer(app);
    this.server.on('upgrade', (req, socket, head) => void upgrades.handle(req, socket, head));
  }

  static create(config: GatewayConfig, deps: GatewayDeps): GatewayService {
    return new GatewayService(config, deps);
  }

  async start(): Promise<void> {
    const { backend, logger } = this.deps;
    await backend.bus.subscribe(this.channel, (msg) => this.onBusMessage(msg));
    await backend.bus.subscribe(backend.names.revocations(), (msg) => this.auth.onRevocation(msg));
    await this.auth.expiry.start();
    await backend.bus.subscribe(backend.names.relaysChanged(), () => void this.routing.refresh());
    await this.beat();
    this.addressLimits.start();
    this.keyLimits.start();
    await this.routing.refresh();
    this.timers.push(
      setInterval(() => void this.beat(), this.config.heartbeatMs),
      setInterval(() => {
        void this.routing.refresh();
        this.routing.retryUnansweredJoins();
      }, this.config.relayPollMs),
      setInterval(() => this.sessions.pingAll(), this.config.pingIntervalMs),
      setInterval(() => this.sessions.observeBitrates(), 1000),
      setInterval(() => this.steering.tick(), STEERING_TICK_MS),
    );
    backend.onReconnect(() => {
      this.auth.recheckKeys();
      void this.beat().then(() => this.routing.reannounceAll());
    });
    await listen(this.server, this.config.port, this.config.host, { service: 'gateway', portVariable: 'PORT', hostVariable: 'HOST', portOption: '--port' });
    if (this.config.metricsPort) {
      this.metricsServer = await startOpsServer({
        registry: this.deps.registry,
        readiness: () => this.readiness(),
        port: this.config.metricsPort,
        host: this.config.host,
        setting: { service: 'gateway metrics server', portVariable: 'METRICS_PORT', hostVariable: 'HOST' },
      });
    }
    logger.info({ gateway: this.id, address: this.url }, 'gateway listening');
  }

  /** The address it listens on, as http://host:port. */
  get url(): string {
    return serverUrl(this.server);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  private readiness() {
    const redis = this.deps.backend.isReady();
    return { ready: redis && !this.draining, store: redis ? 'up' : 'down', draining: this.draining, relays: this.routing.liveRelays };
  }

  private async beat(): Promise<void> {
    try {
      await this.deps.backend.gateways.heartbeat(this.id, this.config.registrationTtlMs);
    } catch {
      /* the store is down; readiness already says so */
    }
  }

  /** This gateway's channel: audio to deliver, and the relays' control envelopes. */
  private onBusMessage(msg: Buffer): void {
    if (isDeliverEnvelope(msg)) this.audio.deliver(msg);
    else if (isControlEnvelope(msg)) this.routing.onControl(msg);
  }

  /**
   * Drains: readiness fails and upgrades are refused at once; then the sessions are closed
   * (drain.ts) and the servers stop. Idempotent.
   */
  readonly destroy = once(async () => {
    const { backend, logger } = this.deps;
    this.draining = true;
    logger.info({ gateway: this.id, sessions: this.sessions.size }, 'draining');
    await drainSessions(this.sessions, this.config);
    for (const t of this.timers) clearInterval(t);
    await runAll([
      () => backend.gateways.remove(this.id),
      () => this.addressLimits.stop(),
      () => this.keyLimits.stop(),
      () => this.auth.expiry.stop(),
      () => backend.bus.unsubscribe(this.channel),
      () => backend.bus.unsubscribe(backend.names.revocations()),
      () => backend.bus.unsubscribe(backend.names.relaysChanged()),
      () => closeServer(this.server),
      () => this.metricsServer?.close(),
    ]);
    logger.info({ gateway: this.id }, 'gateway stopped');
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
}
