/**
 * An API key's limits at a peer's join (the key's record; keys-admin sets them): mobile only, the
 * line's size (the host's link asks, bounded by MAX_LINE_CAPACITY and the key's peers), and a seat
 * among the key's peers and lines across every gateway (key-seats.ts in server-kit: atomic, leased
 * per gateway), given back when the peer leaves. Limits changed while a call is open apply from the
 * next join. Refusals are error codes (key_peer_limit, key_line_limit, key_mobile_only), counted by
 * the gateway's refusals metric like every close.
 *
 * A key's maxLayer caps the layers its peers may send and be sent: with two layers, `compact` means
 * the same as mobileOnly (the join must ask for the compact layer only).
 */
import { ErrorCode, JoinMessage } from '@studioline/protocol';
import { KeyLimits, KeySeats } from '@studioline/server-kit';
import { GatewayConfig } from './config.js';
import { Session } from './session.js';

/** The key id of the static keys (APIKEY): no record, no limits, no seats. */
const STATIC_KEY_ID = 'static';

/** True when a join sends and asks for the compact layer only (a `mobile=1` peer). */
export function joinIsCompactOnly(join: JoinMessage): boolean {
  return join.receive === 'compact' && join.layers.every((layer) => layer === 'compact');
}

export class KeyLimitsPolicy {
  private renewTimer?: NodeJS.Timeout;

  constructor(
    private readonly seats: KeySeats,
    private readonly config: GatewayConfig,
  ) {}

  /** Renews the lease on this gateway's seats with its heartbeat. */
  start(): void {
    this.renewTimer = setInterval(() => void this.seats.renew().catch(() => undefined), this.config.heartbeatMs);
  }

  /** Stops renewing and forgets this gateway's seats. Idempotent. */
  async stop(): Promise<void> {
    clearInterval(this.renewTimer);
    await this.seats.clear();
  }

  /** The peers a line opened by this join may hold: the link's ask (else LINE_CAPACITY), within MAX_LINE_CAPACITY and the key's peers. */
  lineCapacity(join: JoinMessage, limits: KeyLimits): number {
    const asked = join.capacity ?? this.config.lineCapacity;
    const most = Math.max(this.config.maxLineCapacity, this.config.lineCapacity);
    return Math.max(2, Math.min(asked, most, limits.maxPeers ?? Infinity));
  }

  /**
   * Applies the key's limits to a join with a good key: returns the refusal, or undefined once the
   * session holds its seat (session.capacity set). A seat taken for a session
   * that closed meanwhile is given back at once.
   */
  async admit(session: Session, keyId: string, limits: KeyLimits | undefined, join: JoinMessage): Promise<ErrorCode | undefined> {
    const l = limits ?? {};
    if ((l.mobileOnly || l.maxLayer === 'compact') && !joinIsCompactOnly(join)) return 'key_mobile_only';
    session.capacity = this.lineCapacity(join, l);
    if (keyId === STATIC_KEY_ID) return undefined;
    let claim;
    try {
      claim = await this.seats.claim(keyId, join.line, { maxPeers: l.maxPeers ?? 0, maxLines: l.maxLines ?? 0 });
    } catch {
      return 'unavailable';
    }
    if (claim !== 'ok') return claim;
    session.seat = { keyId, line: join.line };
    if (session.state === 'closed') this.release(session);
    return undefined;
  }

  /** The session left: its seat goes back to its key (idempotent). */
  release(session: Session): void {
    const seat = session.seat;
    if (!seat) return;
    session.seat = undefined;
    this.seats.release(seat.keyId, seat.line).catch(() => undefined);
  }
}
