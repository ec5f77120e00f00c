/**
 * The websockets of this gateway, each a {@link Session} from its opening to its close: numbering,
 * the join deadline, the ping/pong heartbeat that cuts dead peers, closing with an error's close
 * code, and the bitrate observed each second. Also which local sessions are on each line, for line
 * routing. What a session's messages mean is for the join and the audio path (the events).
 */
import { COMPACT_BUDGET_BPS, ERRORS, ErrorCode, ServerMessage, errorMessage } from '@studioline/protocol';
import { Logger } from '@studioline/server-kit';
import { RawData, WebSocket } from 'ws';
import { GatewayConfig } from './config.js';
import { GatewayMetrics } from './metrics.js';
import { Session } from './session.js';
import { WindowBudget } from './window-budget.js';

export interface SessionEvents {
  /** A binary message: an audio frame. */
  audio(session: Session, frame: Buffer): void;
  /** A text message: the join, a ping, or what the protocol does not allow. */
  text(session: Session, data: Buffer): void;
  /** The session is closing (refused, drained or gone): take it off its relay. */
  detached(session: Session): void;
  /** A pong (to the heartbeat's ping, or to a layer probe: layer-steering.ts). */
  pong(session: Session, data: Buffer): void;
}

export class Sessions {
  private readonly byConn = new Map<number, Session>();
  /** Local sessions per line, for re-homing lines when relays come and go. */
  private readonly byLine = new Map<string, Set<Session>>();
  private nextConn = 1;

  constructor(
    private readonly config: GatewayConfig,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
    private readonly events: SessionEvents,
  ) {}

  get size(): number {
    return this.byConn.size;
  }

  get lineCount(): number {
    return this.byLine.size;
  }

  joinedCount(): number {
    let joined = 0;
    for (const session of this.byConn.values()) if (session.state === 'joined') joined++;
    return joined;
  }

  get(conn: number): Session | undefined {
    return this.byConn.get(conn);
  }

  values(): IterableIterator<Session> {
    return this.byConn.values();
  }

  /** Each line with sessions here, and those sessions. */
  lines(): IterableIterator<[string, ReadonlySet<Session>]> {
    return this.byLine.entries();
  }

  onLine(line: string): Iterable<Session> {
    return this.byLine.get(line) ?? [];
  }

  /** A socket opened: it must send its join within the join timeout. */
  open(ws: WebSocket, address: string): Session {
    const now = performance.now();
    const rate = this.config.budgetBps / 8;
    const window = this.config.budgetWindowMs;
    const session: Session = {
      conn: this.nextConn++,
      ws,
      address,
      state: 'joining',
      senderNumber: -2,
      layers: 0,
      receiveLayer: 0,
      member: 0,
      joinSentAt: 0,
      bytesIn: 0,
      bytesOut: 0,
      inBudget: new WindowBudget(rate, window, now),
      outBudget: new WindowBudget(rate, window, now),
      compactBudget: new WindowBudget(COMPACT_BUDGET_BPS / 8, window, now),
      alive: true,
      lastWarningAt: -Infinity,
      violations: 0,
    };
    if (this.nextConn > 0xffffffff) this.nextConn = 1;
    this.byConn.set(session.conn, session);
    this.metrics.connectionsTotal.inc();
    this.logger.info({ conn: session.conn, address }, 'connection received');
    session.timer = setTimeout(() => session.state === 'joining' && this.refuse(session, 'join_timeout'), this.config.joinTimeoutMs);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      session.alive = true;
      if (isBinary) this.events.audio(session, data as Buffer);
      else this.events.text(session, data as Buffer);
    });
    ws.on('pong', (data: Buffer) => {
      session.alive = true;
      this.events.pong(session, data);
    });
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.metrics.closes.inc({ code: 'message_too_big' });
      this.logger.info({ conn: session.conn, err: err.message }, 'websocket error');
    });
    ws.on('close', () => {
      this.detach(session);
      this.byConn.delete(session.conn);
    });
    return session;
  }

  /** Puts a session that passed its join on its line (session.line). */
  addToLine(session: Session): void {
    const line = session.line as string;
    let peers = this.byLine.get(line);
    if (!peers) this.byLine.set(line, (peers = new Set()));
    peers.add(session);
  }

  send(session: Session, msg: ServerMessage): void {
    if (session.ws.readyState === WebSocket.OPEN) session.ws.send(JSON.stringify(msg));
  }

  /** Closes a session with the error's close code, after telling the client why in words. */
  refuse(session: Session, code: ErrorCode): void {
    if (session.state === 'closed') return;
    this.metrics.closes.inc({ code });
    this.send(session, errorMessage(code));
    session.ws.close(ERRORS[code].closeCode, code);
    this.detach(session);
  }

  /** A non-fatal problem, reported at most once a second. */
  warn(session: Session, code: ErrorCode, now: number): void {
    if (now - session.lastWarningAt < 1000) return;
    session.lastWarningAt = now;
    this.send(session, errorMessage(code));
  }

  /** The heartbeat: a session that did not answer the last ping (nor sent anything since) is cut. */
  pingAll(): void {
    for (const session of this.byConn.values()) {
      if (!session.alive) {
        session.ws.terminate();
        continue;
      }
      session.alive = false;
      session.ws.ping();
    }
  }

  /** Each second, each joined peer's bitrate both ways into the histogram (p99 <= budget is one query). */
  observeBitrates(): void {
    for (const session of this.byConn.values()) {
      if (session.state !== 'joined') continue;
      this.metrics.peerBitrate.observe({ direction: 'in' }, session.bytesIn * 8);
      this.metrics.peerBitrate.observe({ direction: 'out' }, session.bytesOut * 8);
      session.bytesIn = 0;
      session.bytesOut = 0;
    }
  }

  /** Takes a session off its line and its relay (idempotent). */
  private detach(session: Session): void {
    if (session.state === 'closed') return;
    session.state = 'closed';
    clearTimeout(session.timer);
    this.events.detached(session);
    if (session.line) {
      const peers = this.byLine.get(session.line);
      peers?.delete(session);
      if (peers?.size === 0) this.byLine.delete(session.line);
    }
  }
}
