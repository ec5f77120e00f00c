/**
 * The gateway: terminates peers' websockets, checks their API keys, and moves their audio to and
 * from the relay that owns each line, as binary envelopes on the bus.
 */
import { randomBytes } from 'node:crypto';
import { IncomingMessage, Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import {
  AUDIO_ENVELOPE_HEADER_BYTES,
  ClientMessage,
  ControlEnvelope,
  DELIVER_COUNT_OFFSET,
  DELIVER_SENT_AT_OFFSET,
  ENVELOPE_DELIVER,
  ERRORS,
  ErrorCode,
  ServerMessage,
  WEBSOCKET_PATH,
  errorMessage,
  isControlEnvelope,
  parseClientMessage,
  preciseNow,
  readU32,
  senderIdFromText,
  wireFrameKid,
  writeAudioHeader,
} from '@studioline/protocol';
import { Backend, Logger, OpsServer, Registry, listen, once, runAll, serverUrl, startOpsServer } from '@studioline/server-kit';
import { RawData, WebSocket, WebSocketServer } from 'ws';
import { GatewayConfig } from './config.js';
import { createHttpApp } from './http-app.js';
import { KeyStoreUnavailableError, KeyVerifier } from './key-verifier.js';
import { GatewayMetrics, createGatewayMetrics } from './metrics.js';
import { RelayRouter } from './relay-router.js';
import { Session } from './session.js';
import { AddressLimits } from './address-limits.js';
import { OriginPolicy } from './origin-policy.js';
import { TrustedProxies } from './trusted-proxies.js';
import { WindowBudget } from './window-budget.js';

export interface GatewayDeps {
  backend: Backend;
  logger: Logger;
  registry: Registry;
}

/** After a drain's close frames, sockets still open this much later are cut. */
const CLOSE_GRACE_MS = 1000;

/** Messages the protocol does not allow (after the join, anything but a ping) before a peer is closed with bad_request. */
const MAX_PROTOCOL_VIOLATIONS = 20;

/** A relay that has not answered a join in this time is treated as gone. */
const JOIN_REPLY_TIMEOUT_MS = 3000;

export class GatewayService {
  readonly id = 'gw-' + randomBytes(6).toString('hex');
  private readonly sessions = new Map<number, Session>();
  /** Local sessions per line, for re-homing lines when relays come and go. */
  private readonly lines = new Map<string, Set<Session>>();
  private readonly metrics: GatewayMetrics;
  private readonly verifier: KeyVerifier;
  private readonly router: RelayRouter;
  private readonly channel: string;
  private readonly wss: WebSocketServer;
  private readonly proxies: TrustedProxies;
  private readonly origins: OriginPolicy;
  private readonly addressLimits: AddressLimits;
  private readonly server: Server;
  private metricsServer?: OpsServer;
  private timers: NodeJS.Timeout[] = [];
  private nextConn = 1;
  private draining = false;

  private constructor(
    readonly config: GatewayConfig,
    private readonly deps: GatewayDeps,
  ) {
    const { backend, logger, registry } = deps;
    this.metrics = createGatewayMetrics(registry, {
      connections: () => this.sessions.size,
      peers: () => [...this.sessions.values()].filter((s) => s.state === 'joined').length,
      lines: () => this.lines.size,
      liveRelays: () => this.router.liveRelays.length,
      storeUp: () => backend.isReady(),
      sendQueueMax: () => [...this.sessions.values()].reduce((max, s) => Math.max(max, s.ws.bufferedAmount), 0),
    });
    this.verifier = new KeyVerifier(backend.keys, config.staticKeyHashes, config.keyCacheMs, (result) => this.metrics.keyCache.inc({ result }));
    this.router = new RelayRouter(backend.relays, logger, () => this.rehomeLines());
    this.channel = backend.names.gatewayChannel(this.id);
    this.proxies = TrustedProxies.parse(config.trustedProxies);
    this.origins = new OriginPolicy(config.allowedOrigins, config.publicUrl, config.host);
    this.addressLimits = new AddressLimits(config.socketsPerAddress, config.unauthenticatedPerAddress);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: config.maxMessageBytes, perMessageDeflate: false, clientTracking: false });
    const app = createHttpApp({ registry, serveMetrics: config.metricsPort === 0, readiness: () => this.readiness(), webRoot: config.webRoot });
    this.server = createServer(app);
    this.server.on('upgrade', (req, socket, head) => void this.onUpgrade(req, socket, head));
  }

  static create(config: GatewayConfig, deps: GatewayDeps): GatewayService {
    return new GatewayService(config, deps);
  }

  async start(): Promise<void> {
    const { backend, logger } = this.deps;
    await backend.bus.subscribe(this.channel, (msg) => this.onBusMessage(msg));
    await backend.bus.subscribe(backend.names.revocations(), (msg) => this.onRevocation(msg));
    await backend.bus.subscribe(backend.names.relaysChanged(), () => void this.router.refresh());
    await this.beat();
    await this.router.refresh();
    this.timers.push(
      setInterval(() => void this.beat(), this.config.heartbeatMs),
      setInterval(() => {
        void this.router.refresh();
        this.retryUnansweredJoins();
      }, this.config.relayPollMs),
      setInterval(() => this.pingAll(), this.config.pingIntervalMs),
      setInterval(() => this.observeBitrates(), 1000),
    );
    backend.onReconnect(() => void this.beat().then(() => this.reannounceAll()));
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
    return { ready: redis && !this.draining, store: redis ? 'up' : 'down', draining: this.draining, relays: this.router.liveRelays.length };
  }

  private async beat(): Promise<void> {
    try {
      await this.deps.backend.gateways.heartbeat(this.id, this.config.registrationTtlMs);
    } catch {
      /* the store is down; readiness already says so */
    }
  }

  // ---- websocket upgrade and refusals before a socket exists ----

  private originAllowed(req: IncomingMessage, viaProxy: boolean): boolean {
    const header = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    return this.origins.allows({
      origin: header('origin'),
      localAddress: req.socket.localAddress,
      localPort: req.socket.localPort,
      forwarded: viaProxy ? { host: header('host'), proto: header('x-forwarded-proto') } : undefined,
    });
  }

  private async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => undefined);
    const path = (req.url ?? '').split('?')[0];
    const refuse = (status: number, reason: string, text: string) => {
      this.metrics.upgradesRefused.inc({ reason });
      refuseUpgrade(socket, status, text);
    };
    if (path !== WEBSOCKET_PATH) return refuse(404, 'not_found', `Websockets are served at ${WEBSOCKET_PATH}`);
    if (this.draining) return refuse(503, 'draining', ERRORS.draining.message);
    const { address, viaProxy } = this.proxies.clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for']);
    if (!this.originAllowed(req, viaProxy)) return refuse(403, 'bad_origin', ERRORS.bad_origin.message);
    const crowded = this.addressLimits.refusal(address);
    if (crowded) return refuse(429, crowded, 'Too many connections from this address.');
    let failures = 0;
    try {
      failures = await this.deps.backend.authFailures.count(address);
    } catch {
      /* store down: the key check will refuse with "unavailable" */
    }
    if (failures >= this.config.authFailLimit) {
      this.metrics.authFailures.inc({ reason: 'rate_limited' });
      return refuse(429, 'too_many_attempts', ERRORS.too_many_attempts.message);
    }
    if (this.draining) return refuse(503, 'draining', ERRORS.draining.message);
    // Checked again: the store lookup above let other upgrades from this address in meanwhile.
    const crowdedNow = this.addressLimits.refusal(address);
    if (crowdedNow) return refuse(429, crowdedNow, 'Too many connections from this address.');
    // Counted only once the socket exists (ws calls back synchronously; a bad handshake never
    // calls back, and must not hold a place), and uncounted when it closes.
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.addressLimits.opened(address);
      this.onConnection(ws, address);
    });
  }

  // ---- sessions ----

  private onConnection(ws: WebSocket, address: string): void {
    const now = performance.now();
    const rate = this.config.budgetBps / 8;
    const window = this.config.budgetWindowMs;
    const session: Session = {
      conn: this.nextConn++,
      ws,
      address,
      state: 'joining',
      senderNumber: -2,
      member: 0,
      joinSentAt: 0,
      bytesIn: 0,
      bytesOut: 0,
      inBudget: new WindowBudget(rate, window, now),
      outBudget: new WindowBudget(rate, window, now),
      alive: true,
      lastWarningAt: -Infinity,
      violations: 0,
    };
    if (this.nextConn > 0xffffffff) this.nextConn = 1;
    this.sessions.set(session.conn, session);
    this.metrics.connectionsTotal.inc();
    this.deps.logger.info({ conn: session.conn, address }, 'connection received');
    session.timer = setTimeout(() => session.state === 'joining' && this.refuse(session, 'join_timeout'), this.config.joinTimeoutMs);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      session.alive = true;
      if (isBinary) this.onAudio(session, data as Buffer);
      else this.onTextMessage(session, data as Buffer);
    });
    ws.on('pong', () => (session.alive = true));
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.metrics.closes.inc({ code: 'message_too_big' });
      this.deps.logger.info({ conn: session.conn, err: err.message }, 'websocket error');
    });
    ws.on('close', () => this.onClose(session));
  }

  private send(session: Session, msg: ServerMessage): void {
    if (session.ws.readyState === WebSocket.OPEN) session.ws.send(JSON.stringify(msg));
  }

  /** Closes a session with the error's close code, after telling the client why in words. */
  private refuse(session: Session, code: ErrorCode): void {
    if (session.state === 'closed') return;
    this.metrics.closes.inc({ code });
    this.send(session, errorMessage(code));
    session.ws.close(ERRORS[code].closeCode, code);
    this.detach(session);
  }

  /** A non-fatal problem, reported at most once a second. */
  private warn(session: Session, code: ErrorCode, now: number): void {
    if (now - session.lastWarningAt < 1000) return;
    session.lastWarningAt = now;
    this.send(session, errorMessage(code));
  }

  /**
   * Text counts against the budget like audio (a peer cannot push text past it), and a peer that
   * keeps sending what the protocol does not allow after its join (anything but a ping) is closed.
   */
  private onTextMessage(session: Session, data: Buffer): void {
    const now = performance.now();
    if (!session.inBudget.take(data.length, now)) {
      this.metrics.drops.inc({ reason: 'over_budget' });
      this.metrics.budgetExceeded.inc({ direction: 'in' });
      return this.warn(session, 'over_budget', now);
    }
    const msg = parseClientMessage(data.toString());
    if (msg?.type === 'ping') return this.send(session, { type: 'pong', t: msg.t });
    if (session.state === 'joining') return void this.onJoin(session, msg);
    this.metrics.drops.inc({ reason: 'not_allowed' });
    if (++session.violations > MAX_PROTOCOL_VIOLATIONS) this.refuse(session, 'bad_request');
  }

  private async onJoin(session: Session, msg: ClientMessage | undefined): Promise<void> {
    if (msg?.type !== 'join') return this.refuse(session, 'bad_request');
    // The sender id is half of the SFrame nonce domain: 0 is not one (and two peers of a line must
    // not share one: checked below, once the key is known good).
    const senderNumber = Number(senderIdFromText(msg.sender) ?? 0n);
    if (senderNumber === 0) return this.refuse(session, 'bad_request');
    clearTimeout(session.timer);
    session.state = 'verifying';
    const verdict = await this.checkKey(session, msg.apikey);
    if (!verdict || session.state !== 'verifying') return; // refused, or closed meanwhile
    // Synchronous from here to peers.add: two joins with one sender id cannot both pass. Peers of
    // the line on other gateways are the relay's to compare.
    for (const other of this.lines.get(msg.line) ?? []) if (other.senderNumber === senderNumber) return this.refuse(session, 'bad_request');
    session.keyHash = verdict.hash;
    this.addressLimits.authenticated(session.address);
    session.keyId = verdict.keyId;
    session.line = msg.line;
    session.sender = msg.sender;
    session.senderNumber = senderNumber;
    const relay = this.router.relayFor(msg.line);
    if (!relay) return this.refuse(session, 'no_relay');
    let peers = this.lines.get(msg.line);
    if (!peers) this.lines.set(msg.line, (peers = new Set()));
    peers.add(session);
    session.state = 'routing';
    this.joinRelay(session, relay, false);
    session.timer = setTimeout(() => session.state === 'routing' && this.refuse(session, 'no_relay'), JOIN_REPLY_TIMEOUT_MS);
  }

  /**
   * Checks a join's key under the failed-key limit: the checks of this address in flight on this
   * gateway count as failures from the moment they start (synchronously, before any await), and a
   * failure is recorded in the store before its check stops counting. Returns the good key's
   * verdict, or undefined once the session is refused.
   */
  private async checkKey(session: Session, apikey: string) {
    const { address } = session;
    const inFlight = this.addressLimits.startCheck(address);
    try {
      let failures = 0;
      try {
        failures = await this.deps.backend.authFailures.count(address);
      } catch {
        /* store down: the key check will refuse with "unavailable" */
      }
      if (session.state !== 'verifying') return undefined;
      if (failures + inFlight > this.config.authFailLimit) {
        this.metrics.authFailures.inc({ reason: 'rate_limited' });
        return void this.refuse(session, 'too_many_attempts');
      }
      let verdict;
      try {
        verdict = await this.verifier.verify(apikey);
      } catch (err) {
        if (!(err instanceof KeyStoreUnavailableError)) throw err;
        return void this.refuse(session, 'unavailable');
      }
      if (verdict.ok) return verdict;
      this.metrics.authFailures.inc({ reason: verdict.reason });
      await this.deps.backend.authFailures.record(address, this.config.authFailWindowMs).catch(() => undefined);
      return void this.refuse(session, verdict.reason === 'revoked' ? 'key_revoked' : 'unauthorized');
    } finally {
      this.addressLimits.endCheck(address);
    }
  }

  /** Announces a session to the relay that owns its line; audio waits for the relay's answer. */
  private joinRelay(session: Session, relay: string, rejoin: boolean): void {
    session.relay = relay;
    session.relayChannel = this.deps.backend.names.relayChannel(relay);
    session.member = 0;
    session.joinSentAt = Date.now();
    const env: ControlEnvelope = {
      t: 'join',
      gw: this.id,
      conn: session.conn,
      line: session.line as string,
      sender: session.sender as string,
      capacity: this.config.lineCapacity,
      rejoin,
    };
    this.deps.backend.bus.publish(session.relayChannel, Buffer.from(JSON.stringify(env)));
  }

  private leaveRelay(session: Session): void {
    if (session.member && session.relayChannel) {
      const env: ControlEnvelope = { t: 'leave', gw: this.id, member: session.member };
      this.deps.backend.bus.publish(session.relayChannel, Buffer.from(JSON.stringify(env)));
    }
    session.member = 0;
  }

  private onClose(session: Session): void {
    this.addressLimits.closed(session.address, session.keyHash !== undefined);
    this.detach(session);
    this.sessions.delete(session.conn);
  }

  /** Takes a session off its line and its relay (idempotent). */
  private detach(session: Session): void {
    if (session.state === 'closed') return;
    session.state = 'closed';
    clearTimeout(session.timer);
    this.leaveRelay(session);
    if (session.line) {
      const peers = this.lines.get(session.line);
      peers?.delete(session);
      if (peers?.size === 0) this.lines.delete(session.line);
    }
  }

  // ---- the audio path: no JSON; the frame is not copied (the bus writes header and frame together) ----

  private onAudio(session: Session, frame: Buffer): void {
    if (session.state !== 'joined') {
      if (session.state === 'joining') return this.refuse(session, 'bad_request');
      this.metrics.drops.inc({ reason: 'not_joined' });
      return;
    }
    const length = frame.length;
    this.metrics.framesIn.inc();
    this.metrics.bytesIn.inc(length);
    session.bytesIn += length;
    const now = performance.now();
    if (wireFrameKid(frame) !== session.senderNumber) {
      this.metrics.drops.inc({ reason: 'malformed' });
      return this.warn(session, 'malformed_frame', now);
    }
    if (!session.inBudget.take(length, now)) {
      this.metrics.drops.inc({ reason: 'over_budget' });
      this.metrics.budgetExceeded.inc({ direction: 'in' });
      return this.warn(session, 'over_budget', now);
    }
    if (session.member === 0) {
      this.metrics.drops.inc({ reason: 'no_route' });
      return;
    }
    const header = Buffer.allocUnsafe(AUDIO_ENVELOPE_HEADER_BYTES);
    writeAudioHeader(header, session.member, preciseNow());
    if (!this.deps.backend.bus.publish(session.relayChannel as string, header, frame)) this.metrics.drops.inc({ reason: 'bus_down' });
  }

  private onBusMessage(msg: Buffer): void {
    if (msg.length > DELIVER_COUNT_OFFSET && msg[0] === ENVELOPE_DELIVER) return this.onDeliver(msg);
    if (isControlEnvelope(msg)) {
      try {
        this.onControl(JSON.parse(msg.toString('utf8')) as ControlEnvelope);
      } catch (err) {
        this.deps.logger.warn({ err: (err as Error).message }, 'bad control envelope');
      }
    }
  }

  private onDeliver(msg: Buffer): void {
    const targets = msg[DELIVER_COUNT_OFFSET];
    const start = DELIVER_COUNT_OFFSET + 1 + 4 * targets;
    if (msg.length <= start) return;
    this.metrics.hopLatency.observe((preciseNow() - msg.readDoubleBE(DELIVER_SENT_AT_OFFSET)) / 1000);
    const frame = msg.subarray(start);
    const now = performance.now();
    for (let i = 0; i < targets; i++) {
      const session = this.sessions.get(readU32(msg, DELIVER_COUNT_OFFSET + 1 + 4 * i));
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
      session.bytesOut += frame.length;
      this.metrics.framesOut.inc();
      this.metrics.bytesOut.inc(frame.length);
    }
  }

  private onControl(env: ControlEnvelope): void {
    const { bus, names } = this.deps.backend;
    if (env.t === 'joined') {
      const session = this.sessions.get(env.conn);
      if (!session || session.state === 'closed' || session.relay !== env.relay) {
        // Stale: the peer left or its line moved while the relay answered. Undo it there.
        const leave: ControlEnvelope = { t: 'leave', gw: this.id, member: env.member };
        bus.publish(names.relayChannel(env.relay), Buffer.from(JSON.stringify(leave)));
        return;
      }
      session.member = env.member;
      if (session.state === 'routing') {
        clearTimeout(session.timer);
        session.state = 'joined';
        this.send(session, {
          type: 'joined',
          line: session.line as string,
          sender: session.sender as string,
          peers: env.peers,
          capacity: this.config.lineCapacity,
          budgetBps: this.config.budgetBps,
        });
      }
    } else if (env.t === 'refused') {
      const session = this.sessions.get(env.conn);
      if (session && session.state === 'routing') this.refuse(session, env.code);
    } else if (env.t === 'peer') {
      const type = env.event === 'joined' ? 'peer_joined' : 'peer_left';
      for (const conn of env.conns) {
        const session = this.sessions.get(conn);
        if (session?.state === 'joined') this.send(session, { type, sender: env.sender });
      }
    }
  }

  // ---- relays coming and going ----

  /** Moves each line whose owner changed to its new relay, re-announcing this gateway's peers there. */
  private rehomeLines(): void {
    for (const [line, sessions] of this.lines) {
      const relay = this.router.relayFor(line);
      let moved = false;
      for (const session of sessions) {
        if (session.relay === relay || (session.state !== 'joined' && session.state !== 'routing')) continue;
        if (session.relay && this.router.isLive(session.relay)) this.leaveRelay(session);
        moved = true;
        if (relay) this.joinRelay(session, relay, true);
        else {
          session.relay = undefined;
          session.member = 0;
        }
      }
      if (moved) this.metrics.rehomes.inc();
    }
  }

  /**
   * The bus delivers at most once: a join (or its answer) lost to a reconnecting store would leave
   * a peer without a route. Joins unanswered for a second are sent again (relays dedupe).
   */
  private retryUnansweredJoins(): void {
    const now = Date.now();
    for (const session of this.sessions.values()) {
      if (session.state === 'joined' && session.member === 0 && session.relay && now - session.joinSentAt > 1000) this.joinRelay(session, session.relay, true);
    }
  }

  /** After a store outage, tells every relay again who is on its lines (relays dedupe). */
  private reannounceAll(): void {
    for (const session of this.sessions.values()) {
      if (session.state !== 'joined' || !session.line) continue;
      const relay = this.router.relayFor(session.line);
      if (relay) this.joinRelay(session, relay, true);
    }
  }

  private onRevocation(msg: Buffer): void {
    let hash: string;
    try {
      hash = JSON.parse(msg.toString('utf8')).hash;
    } catch {
      return;
    }
    this.verifier.evict(hash);
    for (const session of this.sessions.values()) if (session.keyHash === hash) this.refuse(session, 'key_revoked');
  }

  /** Each second, each joined peer's bitrate both ways into the histogram (p99 <= budget is one query). */
  private observeBitrates(): void {
    for (const session of this.sessions.values()) {
      if (session.state !== 'joined') continue;
      this.metrics.peerBitrate.observe({ direction: 'in' }, session.bytesIn * 8);
      this.metrics.peerBitrate.observe({ direction: 'out' }, session.bytesOut * 8);
      session.bytesIn = 0;
      session.bytesOut = 0;
    }
  }

  private pingAll(): void {
    for (const session of this.sessions.values()) {
      if (!session.alive) {
        session.ws.terminate();
        continue;
      }
      session.alive = false;
      session.ws.ping();
    }
  }

  /**
   * Drains: readiness fails and upgrades are refused at once; after drainDelayMs every call is
   * closed with 1001 so its peers reconnect through another gateway; sockets still open at
   * drainTimeoutMs are terminated. Idempotent.
   */
  readonly destroy = once(async () => {
    const { backend, logger } = this.deps;
    this.draining = true;
    logger.info({ gateway: this.id, sessions: this.sessions.size }, 'draining');
    const deadline = Date.now() + this.config.drainTimeoutMs;
    if (this.sessions.size) await sleep(Math.min(this.config.drainDelayMs, this.config.drainTimeoutMs));
    for (const session of this.sessions.values()) {
      this.metrics.closes.inc({ code: 'draining' });
      this.send(session, errorMessage('draining'));
      session.ws.close(ERRORS.draining.closeCode, 'draining');
      this.detach(session);
    }
    // Clients reconnect on the draining message; a close handshake that a proxy holds half-open
    // gets a second, then the socket is cut.
    const closeBy = Math.min(deadline, Date.now() + CLOSE_GRACE_MS);
    while (this.sessions.size && Date.now() < closeBy) await sleep(50);
    for (const session of this.sessions.values()) session.ws.terminate();
    for (const t of this.timers) clearInterval(t);
    await runAll([
      () => backend.gateways.remove(this.id),
      () => backend.bus.unsubscribe(this.channel),
      () => backend.bus.unsubscribe(backend.names.revocations()),
      () => backend.bus.unsubscribe(backend.names.relaysChanged()),
      () => closeServer(this.server),
      () => this.metricsServer?.close(),
    ]);
    logger.info({ gateway: this.id }, 'gateway stopped');
  });
}

function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  const statusText: Record<number, string> = { 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 503: 'Service Unavailable' };
  const body = JSON.stringify({ error: text });
  socket.end(
    `HTTP/1.1 ${status} ${statusText[status]}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

