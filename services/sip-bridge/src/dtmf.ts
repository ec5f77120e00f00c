/**
 * RFC 4733 telephone-events (DTMF) from phones, and the small menu they drive:
 *   *1  mute / unmute the phone toward the line
 *   *2  push-to-talk, latched: the first *2 makes the phone a push-to-talk talker with its channel
 *       closed, each further *2 opens or closes it (a desk phone's keys send presses, not holds)
 *   #   hang up
 * Other keys are counted and otherwise ignored. A key press is a run of packets with one RTP
 * timestamp (repeated, then three end packets): it counts once, on its first packet. A packet
 * starts a new press when its timestamp or its key differs, or when the last press had ended and
 * this one has not (senders that replay recorded presses reuse one timestamp).
 */
export const DTMF_KEYS = '0123456789*#ABCD';

export type MenuAction = 'mute' | 'unmute' | 'talk_on' | 'talk_off' | 'hangup' | 'key';

export interface TelephoneEvent {
  key: string;
  end: boolean;
  /** In RTP clock units. */
  duration: number;
}

/** The event in a telephone-event payload, or undefined for a malformed one or an event that is not a key. */
export function parseTelephoneEvent(payload: Uint8Array): TelephoneEvent | undefined {
  if (payload.length < 4 || payload[0] >= DTMF_KEYS.length) return undefined;
  return { key: DTMF_KEYS[payload[0]], end: (payload[1] & 0x80) !== 0, duration: (payload[2] << 8) | payload[3] };
}

export class DtmfMenu {
  private last?: { timestamp: number; key: string; ended: boolean };
  private star = false;
  private muted = false;
  /** Push-to-talk: undefined until the first *2 (the phone talks freely), then open or closed. */
  private talking?: boolean;

  constructor(private readonly onAction: (action: MenuAction, key: string) => void) {}

  /** One telephone-event packet (with its RTP timestamp). */
  packet(timestamp: number, event: TelephoneEvent): void {
    const last = this.last;
    const samePress = last && last.timestamp === timestamp && last.key === event.key && !(last.ended && !event.end);
    this.last = { timestamp, key: event.key, ended: event.end };
    if (!samePress) this.key(event.key);
  }

  private key(key: string): void {
    if (key === '#') {
      this.star = false;
      return this.onAction('hangup', key);
    }
    if (this.star && key === '1') {
      this.star = false;
      this.muted = !this.muted;
      return this.onAction(this.muted ? 'mute' : 'unmute', key);
    }
    if (this.star && key === '2') {
      this.star = false;
      this.talking = this.talking === undefined ? false : !this.talking;
      return this.onAction(this.talking ? 'talk_on' : 'talk_off', key);
    }
    this.star = key === '*';
    this.onAction('key', key);
  }
}
