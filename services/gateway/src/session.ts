import type { WebSocket } from 'ws';
import { ReceiverStep } from './layer-step.js';
import { WindowBudget } from './window-budget.js';

export type SessionState = 'joining' | 'verifying' | 'routing' | 'joined' | 'closed';

/** One websocket on this gateway: a peer before and after it joined its line. */
export interface Session {
  readonly conn: number;
  readonly ws: WebSocket;
  readonly address: string;
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
  /** Its probes, and when it is stepped down a layer and back (layer-step.ts): its ceiling at the relay is `step.ceiling`. Set at its join. */
  step?: ReceiverStep;
  /** The relay that owns the line as far as this gateway knows, and this peer's member number there (0: not yet). */
  relay?: string;
  relayChannel?: string;
  member: number;
  /** When the last join for this session went to its relay (ms), to send it again if unanswered. */
  joinSentAt: number;
  /** Bytes of audio from and to this peer since the last bitrate observation (each second). */
  bytesIn: number;
  bytesOut: number;
  /** The bandwidth budget of what it sends and of what it is sent. */
  readonly inBudget: WindowBudget;
  readonly outBudget: WindowBudget;
  /**
   * The servers' share of the way frames take to this peer (from the gateway they entered to this
   * one), ms, averaged over about the last 20 frames; reported in each pong for the page's latency.
   */
  serverMs?: number;
  /** Its compact layer's budget: what one speaker may cost a mobile receiver's socket (COMPACT_BUDGET_BPS). */
  readonly compactBudget: WindowBudget;
  /** Answered the last ping. */
  alive: boolean;
  /** When a non-fatal warning (malformed frame, over budget) was last sent, to send at most one a second. */
  lastWarningAt: number;
  /** Messages the protocol does not allow, so far (closed with bad_request past a few). */
  violations: number;
  timer?: NodeJS.Timeout;
}
