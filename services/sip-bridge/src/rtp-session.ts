/**
 * One call's RTP: a UDP socket on a port of the configured range, packets in from the phone
 * (checked, counted, with RFC 3550 loss and interarrival jitter) and out to it (sequence and
 * timestamp kept here). Only the phone's address is listened to; its port is learnt from its first
 * packet (symmetric RTP), so a phone behind a NAT that rewrote its port is still heard.
 * No RTCP and no SRTP yet (issue 17).
 */
import { Socket, createSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { RtpPacket, parseRtp, writeRtp } from './rtp-packet.js';
import { SipBridgeMetrics } from './metrics.js';

export class RtpPortsExhausted extends Error {
  readonly code = 'rtp_ports_exhausted';
}

/** Hands out RTP ports from [min, max], round robin (one port per call: no RTCP yet). */
export class RtpPorts {
  private next: number;

  constructor(
    private readonly host: string,
    private readonly min: number,
    private readonly max: number,
  ) {
    this.next = min;
  }

  /** A socket bound to a free port of the range; skips ports another process holds. */
  async bind(): Promise<Socket> {
    const count = this.max - this.min + 1;
    for (let tried = 0; tried < count; tried++) {
      const port = this.next;
      this.next = port === this.max ? this.min : port + 1;
      const socket = createSocket(this.host.includes(':') ? 'udp6' : 'udp4');
      const ok = await new Promise<boolean>((resolve) => {
        socket.once('error', () => resolve(false));
        socket.bind(port, this.host, () => resolve(true));
      });
      if (ok) return socket;
      socket.close();
    }
    throw new RtpPortsExhausted(`no free RTP port in ${this.min}-${this.max}`);
  }
}

export interface RtpReceiveStats {
  received: number;
  lost: number;
  /** RFC 3550 interarrival jitter, ms. */
  jitterMs: number;
}

export class RtpSession {
  private remotePort: number;
  private readonly ssrc = randomInt(2 ** 32);
  private sequence = randomInt(2 ** 16);
  private timestamp = randomInt(2 ** 32);
  private sentAny = false;
  // Receive side
  private highest?: number; // extended highest sequence number
  private base?: number;
  private received = 0;
  private transit?: number;
  private jitter = 0; // in timestamp units
  private closed = false;
  /** The phone's port has been learnt from its first packet (symmetric RTP). */
  private latched = false;
  /** RFC 4733 telephone-events, when negotiated: handed to `onEvent`, not to the audio path. */
  dtmfPayloadType?: number;
  onEvent?: (packet: RtpPacket) => void;

  constructor(
    private readonly socket: Socket,
    private remote: { address: string; port: number },
    private readonly payloadType: number,
    private readonly clockRate: number,
    private readonly metrics: SipBridgeMetrics,
    private readonly onPacket: (packet: RtpPacket, gap: number) => void,
  ) {
    this.remotePort = remote.port;
    socket.on('message', (data, from) => {
      if (from.address !== this.remote.address) return void metrics.rtpDropped.inc({ reason: 'wrong_source' });
      const packet = parseRtp(data);
      if (!packet) return void metrics.rtpDropped.inc({ reason: 'malformed' });
      if (packet.payloadType === this.dtmfPayloadType && this.dtmfPayloadType !== undefined) return this.onEvent?.(packet);
      if (packet.payloadType !== payloadType) {
        // Comfort noise (CN) and anything else not negotiated.
        return void metrics.rtpDropped.inc({ reason: 'payload_type' });
      }
      if (!this.latched) {
        this.latched = true;
        this.remotePort = from.port;
      }
      metrics.rtpPackets.inc({ direction: 'in' });
      const gap = this.account(packet);
      if (gap < 0) return; // a duplicate or a late packet: its turn has passed
      this.onPacket(packet, gap);
    });
    socket.on('error', () => undefined);
  }

  /**
   * The phone moved its media (a re-INVITE with another address or port): send there, listen to
   * that address, and learn its port again from its first packet.
   */
  retarget(remote: { address: string; port: number }): void {
    this.remote = remote;
    this.remotePort = remote.port;
    this.latched = false;
  }

  get remoteAddress(): { address: string; port: number } {
    return this.remote;
  }

  get localPort(): number {
    return this.socket.address().port;
  }

  /** Counts the packet; returns how many packets are missing just before it (negative: late or repeated). */
  private account(p: RtpPacket): number {
    this.received++;
    const arrival = (performance.now() * this.clockRate) / 1000;
    const transit = arrival - p.timestamp;
    if (this.transit !== undefined) {
      let d = Math.abs(transit - this.transit);
      if (d > 2 ** 31) d = 2 ** 32 - d;
      this.jitter += (d - this.jitter) / 16;
    }
    this.transit = transit;
    if (this.highest === undefined) {
      this.highest = this.base = p.sequence;
      return 0;
    }
    const cycle = this.highest & ~0xffff;
    let ext = cycle | p.sequence;
    if (ext < this.highest - 0x8000) ext += 0x10000;
    else if (ext > this.highest + 0x8000) ext -= 0x10000;
    const gap = ext - this.highest - 1;
    if (ext > this.highest) {
      if (gap > 0) this.metrics.rtpLost.inc(gap);
      this.highest = ext;
    }
    return gap;
  }

  get stats(): RtpReceiveStats {
    const expected = this.highest === undefined ? 0 : this.highest - (this.base as number) + 1;
    return { received: this.received, lost: Math.max(0, expected - this.received), jitterMs: (this.jitter * 1000) / this.clockRate };
  }

  /** Sends one packet holding `samples` samples' worth of audio (at the RTP clock). */
  send(payload: Uint8Array, samples: number): void {
    if (this.closed) return;
    const packet = writeRtp({ payloadType: this.payloadType, marker: !this.sentAny, sequence: this.sequence, timestamp: this.timestamp, ssrc: this.ssrc }, payload);
    this.sentAny = true;
    this.sequence = (this.sequence + 1) & 0xffff;
    this.timestamp = (this.timestamp + samples) >>> 0;
    this.socket.send(packet, this.remotePort, this.remote.address);
    this.metrics.rtpPackets.inc({ direction: 'out' });
  }

  /** A packet time not sent (the call is held): the timestamp runs on, as the phone's clock does. */
  skip(samples: number): void {
    this.timestamp = (this.timestamp + samples) >>> 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }
}
