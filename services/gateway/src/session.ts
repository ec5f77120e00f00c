import type { WebSocket } from 'ws';
import { ReceiverStep } from './layer-step.js';
import { WindowBudget } from './window-budget.js';

export type SessionState = 'joining' | 'verifying' | 'routing' | 'joined' | 'closed';

/**
 * One websocket on this gateway, and what belongs to the socket rather than to a line: its budgets,
 * its heartbeat, its warnings, and how its link copes (the layer step). A one-line socket has one
 * {@link Session}; a channel socket (channels.ts in protocol) one per channel it is on.
 */
export interface PeerSocket {
  readonly ws: WebSocket;
  readonly address: string;
  /** The session of its first join (a one-line socket's only one). */
  readonly first: Session;
  /** A channel socket's sessions by channel number; undefined for a one-line socket. */
  channels?: Map<number, Session>;
  /** The bandwidth budget of what it sends and of what it is sent, all its channels together. */
  readonly inBudget: WindowBudget;
  readonly outBudget: WindowBudget;
  /** Bytes of audio from and to this peer since the last bitrate observation (each second). */
  bytesIn: number;
  bytesOut: number;
  /** Its probes, and when it is stepped down a layer and back (layer-step.ts). Set at its first join. */
  step?: ReceiverStep;
  /** Answered the last ping. */
  alive: boolean;
  /** When a non-fatal warning (malformed frame, over budget) was last sent, to send at most one a second. */
  lastWarningAt: number;
  /** Messages the protocol does not allow, so far (closed with bad_request past a few). */
  violations: number;
  /** Set while a channel socket is on no channel: it must join one within the join timeout. */
  idleTimer?: NodeJS.Timeout;
  closed: boolean;
}

/** A peer on one line through this gateway: a one-line socket, or one channel of a channel socket. */
export interface Session {
  /** This gateway's number for it, as relays name it; each channel has its own. */
  readonly conn: number;
  readonly socket: PeerSocket;
  readonly ws: WebSocket;
  readonly address: string;
  /** Its channel number on a channel socket; -1 on a one-line socket (and before its first join). */
  channel: number;
  /** The best layer its line is sent now, as its relay was last told (the step and the channel policy together). */
  ceiling: number;
  state: SessionState;
  /** SHA-256 of the API key it joined with (for revocation), once verified. */
  keyHash?: string;
  keyId?: string;
  line?: string;
  /** The peers its line may hold, as it asked (bounded by the server and its key); sent to the relay with the join. */
  capacity?: number;
  /** Its seat among its key's peers and lines (key-limits.ts), while it holds one. */
  seat?: { keyId: string; line: string };
  sender?: string;
  /** The sender id as a number, compared with each frame's SFrame KID. */
  senderNumber: number;
  /** The layers it said it sends, as a bit mask (bit n: layer n); frames of other layers are dropped. */
  layers: number;
  /** The best layer it wants to receive. */
  receiveLayer: number;
  /** The relay that owns the line as far as this gateway knows, and this peer's member number there (0: not yet). */
  relay?: string;
  relayChannel?: string;
  member: number;
  /** When the last join for this session went to its relay (ms), to send it again if unanswered. */
  joinSentAt: number;
  /**
   * The servers' share of the way frames take to this peer (from the gateway they entered to this
   * one), ms, averaged over about the last 20 frames; reported in each pong for the page's latency.
   */
  serverMs?: number;
  /** Its compact layer's budget: what one speaker may cost a mobile receiver's socket (COMPACT_BUDGET_BPS). */
  readonly compactBudget: WindowBudget;
  timer?: NodeJS.Timeout;
}
