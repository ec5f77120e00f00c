/**
 * The websockets of this gateway, each a {@link PeerSocket} from its opening to its close, with a
 * {@link Session} per line it is on (one, or one per channel of a channel socket: channels.ts in
 * protocol): numbering, the join deadline, the ping/pong heartbeat that cuts dead peers, closing
 * with an error's close code (a whole socket, or one channel), and the bitrate observed each
 * second. Also which local sessions are on each line, for line routing. What a session's messages
 * mean is for the join and the audio path (the events).
 */
import { COMPACT_BUDGET_BPS, ERRORS, ErrorCode, ServerMessage, channelOfFrame, errorMessage, frameOfChannelMessage } from '@studioline/protocol';
import { Logger } from '@studioline/server-kit';
import { RawData, WebSocket } from 'ws';
import { GatewayConfig } from './config.js';
import { GatewayMetrics } from './metrics.js';
import { PeerSocket, Session } from './session.js';
import { WindowBudget } from './window-budget.js';

export interface SessionEvents {
  /** A binary message: an audio frame (on a channel socket: of the channel named, its channel byte taken off). */
  audio(session: Session, frame: Buffer): void;
  /** A text message: a join, a ping, a leave, or what the protocol does not allow. */
  text(socket: PeerSocket, data: Buffer): void;
  /** The session is closing (refused, left, drained or gone): take it off its relay. */
  detached(session: Session): void;
  /** A pong (to the heartbeat's ping, or to a layer probe: layer-steering.ts). */
  pong(socket: PeerSocket, data: Buffer): void;
  /** A channel socket left a channel (or was refused one): its other lines' layers may change. */
  channelsChanged(socket: PeerSocket): void;
}

/**
 * Refusals that concern the whole socket even on a channel socket: what it sent cannot be trusted
 * to name a channel, or the gateway itself is going. Every other refusal of a channel's session
 * closes that channel only.
 */
const SOCKET_REFUSALS: ReadonlySet<ErrorCode> = new Set(['bad_request', 'join_timeout', 'draining', 'message_too_big']);

export class Sessions {
  private readonly byConn = new Map<number, Session>();
  private readonly sockets = new Set<PeerSocket>();
  /** Local sessions per line, for re-homing lines when relays come and go. */
  private readonly byLine = new Map<string, Set<Session>>();
  private nextConn = 1;

  constructor(
    private readonly config: GatewayConfig,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
    private readonly events: SessionEvents,
  ) {}

  /** Open websockets. */
  get size(): number {
    return this.sockets.size;
  }

  get lineCount(): number {
    return this.byLine.size;
  }

  /** Sessions joined to a line (a channel socket counts once per channel). */
  joinedCount(): number {
    let joined = 0;
    for (const session of this.byConn.values()) if (session.state === 'joined') joined++;
    return joined;
  }

  /** Channels open on channel sockets. */
  channelCount(): number {
    let channels = 0;
    for (const socket of this.sockets) channels += socket.channels?.size ?? 0;
    return channels;
  }

  get(conn: number): Session | undefined {
    return this.byConn.get(conn);
  }

  /** Every session (each channel of a channel socket is one). */
  values(): IterableIterator<Session> {
    return this.byConn.values();
  }

  /** Every open websocket. */
  allSockets(): IterableIterator<PeerSocket> {
    return this.sockets.values();
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
    const socket = {
      ws,
      address,
      inBudget: new WindowBudget(rate, window, now),
      outBudget: new WindowBudget(rate, window, now),
      bytesIn: 0,
      bytesOut: 0,
      alive: true,
      lastWarningAt: -Infinity,
      violations: 0,
      closed: false,
    } as Omit<PeerSocket, 'first'> as PeerSocket;
    const session = this.newSession(socket);
    (socket as { first: Session }).first = session;
    this.sockets.add(socket);
    this.metrics.connectionsTotal.inc();
    this.logger.info({ conn: session.conn, address }, 'connection received');
    session.timer = setTimeout(() => session.state === 'joining' && this.refuse(session, 'join_timeout'), this.config.joinTimeoutMs);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      socket.alive = true;
      if (!isBinary) return this.events.text(socket, data as Buffer);
      const channels = socket.channels;
      if (!channels) return this.events.audio(socket.first, data as Buffer);
      const target = channels.get(channelOfFrame(data as Buffer));
      // A channel it is not on (left a moment ago, or never joined): dropped like audio before a join.
      if (!target) return this.metrics.drops.inc({ reason: 'no_channel' });
      this.events.audio(target, frameOfChannelMessage(data as Buffer));
    });
    ws.on('pong', (data: Buffer) => {
      socket.alive = true;
      this.events.pong(socket, data);
    });
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.metrics.closes.inc({ code: 'message_too_big' });
      this.logger.info({ conn: session.conn, err: err.message }, 'websocket error');
    });
    ws.on('close', () => this.closeSocket(socket));
    return session;
  }

  /** A channel socket joins one more channel: a new session on it, with its own conn. */
  openChannel(socket: PeerSocket, channel: number): Session {
    const session = this.newSession(socket);
    session.channel = channel;
    (socket.channels as Map<number, Session>).set(channel, session);
    this.armIdle(socket);
    return session;
  }

  /** Puts a session that passed its join on its line (session.line). */
  addToLine(session: Session): void {
    const line = session.line as string;
    let peers = this.byLine.get(line);
    if (!peers) this.byLine.set(line, (peers = new Set()));
    peers.add(session);
  }

  /** Sends a control message; on a channel socket, one about a session's line names its channel. */
  send(session: Session, msg: ServerMessage): void {
    this.sendSocket(session.socket, session.channel >= 0 ? { ...msg, ch: session.channel } : msg);
  }

  sendSocket(socket: PeerSocket, msg: ServerMessage): void {
    if (socket.ws.readyState === WebSocket.OPEN) socket.ws.send(JSON.stringify(msg));
  }

  /**
   * Refuses a session, after telling the client why in words: a one-line socket is closed with the
   * error's close code; a channel of a channel socket is closed alone (its `error` names it), unless
   * the refusal concerns the whole socket (SOCKET_REFUSALS).
   */
  refuse(session: Session, code: ErrorCode): void {
    if (session.state === 'closed') return;
    if (session.channel < 0 || SOCKET_REFUSALS.has(code)) return this.refuseSocket(session.socket, code);
    this.metrics.closes.inc({ code });
    this.send(session, errorMessage(code));
    this.closeChannel(session);
  }

  /** Closes a whole socket (every channel of it) with the error's close code. */
  refuseSocket(socket: PeerSocket, code: ErrorCode): void {
    if (socket.closed) return;
    this.metrics.closes.inc({ code });
    this.sendSocket(socket, errorMessage(code));
    socket.ws.close(ERRORS[code].closeCode, code);
    this.detachSocket(socket);
  }

  /** A channel socket leaves one channel (or is refused it): the session goes, the socket stays. */
  closeChannel(session: Session): void {
    const { socket } = session;
    this.detach(session);
    this.byConn.delete(session.conn);
    if (socket.channels?.get(session.channel) === session) socket.channels.delete(session.channel);
    this.armIdle(socket);
    this.events.channelsChanged(socket);
  }

  /** A non-fatal problem, reported at most once a second. */
  warn(session: Session, code: ErrorCode, now: number): void {
    const { socket } = session;
    if (now - socket.lastWarningAt < 1000) return;
    socket.lastWarningAt = now;
    this.send(session, errorMessage(code));
  }

  /** The heartbeat: a socket that did not answer the last ping (nor sent anything since) is cut. */
  pingAll(): void {
    for (const socket of this.sockets) {
      if (!socket.alive) {
        socket.ws.terminate();
        continue;
      }
      socket.alive = false;
      socket.ws.ping();
    }
  }

  /** Each second, each joined socket's bitrate both ways into the histogram (p99 <= budget is one query). */
  observeBitrates(): void {
    for (const socket of this.sockets) {
      if (!this.isJoined(socket)) continue;
      this.metrics.peerBitrate.observe({ direction: 'in' }, socket.bytesIn * 8);
      this.metrics.peerBitrate.observe({ direction: 'out' }, socket.bytesOut * 8);
      socket.bytesIn = 0;
      socket.bytesOut = 0;
    }
  }

  /** The sessions of a socket: its channels', or its one session. */
  sessionsOf(socket: PeerSocket): Iterable<Session> {
    return socket.channels ? socket.channels.values() : [socket.first];
  }

  /** True when some session of the socket is joined to its line. */
  isJoined(socket: PeerSocket): boolean {
    for (const session of this.sessionsOf(socket)) if (session.state === 'joined') return true;
    return false;
  }

  private newSession(socket: PeerSocket): Session {
    const now = performance.now();
    const session: Session = {
      conn: this.nextConn++,
      socket,
      ws: socket.ws,
      address: socket.address,
      channel: -1,
      ceiling: 0,
      state: 'joining',
      senderNumber: -2,
      layers: 0,
      receiveLayer: 0,
      member: 0,
      joinSentAt: 0,
      compactBudget: new WindowBudget(COMPACT_BUDGET_BPS / 8, this.config.budgetWindowMs, now),
    };
    if (this.nextConn > 0xffffffff) this.nextConn = 1;
    this.byConn.set(session.conn, session);
    return session;
  }

  /** A channel socket on no channel must join one within the join timeout, as a new socket must. */
  private armIdle(socket: PeerSocket): void {
    clearTimeout(socket.idleTimer);
    socket.idleTimer = undefined;
    if (socket.closed || !socket.channels || socket.channels.size > 0) return;
    socket.idleTimer = setTimeout(() => socket.channels?.size === 0 && this.refuseSocket(socket, 'join_timeout'), this.config.joinTimeoutMs);
  }

  /** Takes every session of a socket off its line (idempotent); the socket is forgotten once it has closed. */
  private detachSocket(socket: PeerSocket): void {
    if (socket.closed) return;
    socket.closed = true;
    clearTimeout(socket.idleTimer);
    for (const session of [...this.sessionsOf(socket), socket.first]) this.detach(session);
  }

  /** The websocket closed: its sessions go, and so does it. */
  private closeSocket(socket: PeerSocket): void {
    this.detachSocket(socket);
    this.sockets.delete(socket);
    for (const session of [...this.sessionsOf(socket), socket.first]) this.byConn.delete(session.conn);
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
