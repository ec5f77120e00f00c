/**
 * One call from a phone to a line, on the SIP side: the INVITE server transaction answered (100,
 * then 200 with our SDP answer once the line is joined, or a failure), then the dialog (ACK, BYE,
 * CANCEL) and its media (call-media.ts). A call that ends from our side (the line ended it, the
 * bridge stops) sends BYE to the phone.
 */
import { randomBytes } from 'node:crypto';
import type { Remote, SipMessage } from 'sip';
import { Logger } from '@studioline/server-kit';
import { CallError } from '@studioline/client';
import { CallMedia } from './call-media.js';
import { DtmfMenu, MenuAction, parseTelephoneEvent } from './dtmf.js';
import { LineEntry } from './directory.js';
import { LineLeg } from './line-leg.js';
import { SipBridgeMetrics } from './metrics.js';
import { createPhoneCodec } from './phone-codecs.js';
import { PhonePlayout } from './phone-playout.js';
import { RtpPorts, RtpSession } from './rtp-session.js';
import { Negotiated, negotiate, writeAnswer } from './sdp-negotiation.js';
import { SipStack } from './sip-stack.js';
import { COMPACT_SAMPLE_RATE } from '@studioline/protocol';

export interface CallContext {
  stack: SipStack;
  rtpPorts: RtpPorts;
  publicAddress: string;
  metrics: SipBridgeMetrics;
  logger: Logger;
  lineJoinTimeoutMs: number;
}

export class LineJoinTimeout extends Error {
  readonly code = 'line_join_timeout';
}

type State = 'joining' | 'answered' | 'ended';

/**
 * RFC 3261 §13.3.1.4: over UDP the 200 to an INVITE is sent again at T1, 2 T1, ... capped at T2,
 * until its ACK comes; without an ACK after 64 T1 the call is given up (BYE).
 */
const T1_MS = 500;
const T2_MS = 4000;
const ACK_TIMEOUT_MS = 64 * T1_MS;

/** The SIP answer to a line that could not be joined, by the call core's refusal code. */
function failureStatus(err: unknown): [number, string] {
  if (err instanceof LineJoinTimeout) return [504, 'Line Did Not Answer'];
  const code = err instanceof CallError ? err.code : undefined;
  if (code === 'line_full') return [486, 'Line Full'];
  if (code === 'connect_failed') return [503, 'Line Unreachable'];
  return [480, 'Line Refused'];
}

function joinWithin(leg: LineLeg, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LineJoinTimeout(`the line was not joined within ${ms} ms`)), ms);
  });
  return Promise.race([leg.join(), timeout]).finally(() => clearTimeout(timer));
}

export class InboundCall {
  private state: State = 'joining';
  private readonly localTag = randomBytes(6).toString('hex');
  private localSeq = 1;
  private leg?: LineLeg;
  private rtp?: RtpSession;
  private media?: CallMedia;
  private playout?: PhonePlayout;
  private retransmit?: ReturnType<typeof setTimeout>;
  /** The CSeq of the INVITE or re-INVITE whose 200 awaits its ACK (sent again over UDP until then). */
  private awaitingAck?: number;
  readonly callId: string;

  constructor(
    private readonly invite: SipMessage,
    private readonly remote: Remote,
    private readonly line: LineEntry,
    private negotiated: Negotiated,
    private readonly ctx: CallContext,
    private readonly onEnded: (call: InboundCall) => void,
  ) {
    this.callId = invite.headers['call-id'];
  }

  get codec(): string {
    return this.negotiated.codec.name;
  }

  /** Joins the line, opens RTP, and answers 200 with the SDP answer (or a failure). */
  async answer(): Promise<void> {
    const { ctx, negotiated } = this;
    ctx.stack.respond(this.invite, 100, 'Trying');
    try {
      const [socket, codec] = await Promise.all([ctx.rtpPorts.bind(), createPhoneCodec(negotiated.codec, negotiated.ptimeMs)]);
      this.playout = new PhonePlayout((COMPACT_SAMPLE_RATE * negotiated.ptimeMs) / 1000);
      this.leg = new LineLeg(this.line.link, this.playout, (error) => this.lineEnded(error));
      this.media = new CallMedia(codec, negotiated.ptimeMs, this.playout, this.leg);
      // A call may start held (an offer of sendonly or inactive): nothing is sent until it resumes.
      this.media.sendToPhone = negotiated.direction === 'sendrecv' || negotiated.direction === 'recvonly';
      const media = this.media;
      this.rtp = new RtpSession(socket, negotiated.remote, negotiated.payloadType, negotiated.codec.clockRate, ctx.metrics, (p, gap) => media.fromPhone(p, gap));
      if (negotiated.dtmfPayloadType !== undefined) {
        const menu = new DtmfMenu((action) => this.onMenu(action));
        this.rtp.dtmfPayloadType = negotiated.dtmfPayloadType;
        this.rtp.onEvent = (p) => {
          const event = parseTelephoneEvent(p.payload);
          if (event) menu.packet(p.timestamp, event);
          else ctx.metrics.rtpDropped.inc({ reason: 'malformed' });
        };
      }
      await joinWithin(this.leg, ctx.lineJoinTimeoutMs);
    } catch (err) {
      if (this.state === 'ended') return; // cancelled meanwhile
      const [status, reason] = failureStatus(err);
      ctx.logger.warn({ callId: this.callId, status, err: (err as Error).message }, 'call not answered: the line could not be joined');
      ctx.metrics.calls.inc({ result: 'line_failed' });
      ctx.stack.respond(this.invite, status, reason);
      return this.end();
    }
    if (this.state !== 'joining') return;
    this.state = 'answered';
    const rtp = this.rtp as RtpSession;
    const answer = writeAnswer(negotiated, { address: ctx.publicAddress, port: rtp.localPort }, Date.now());
    const ok = ctx.stack.respond(this.invite, 200, 'OK', {
      headers: {
        to: { ...this.invite.headers.to, params: { ...this.invite.headers.to.params, tag: this.localTag } },
        contact: [{ uri: `sip:${this.line.number}@${this.hostPort()}${this.remote.protocol === 'TCP' ? ';transport=tcp' : ''}`, params: {} }],
        'content-type': 'application/sdp',
      },
      content: answer,
    });
    if (this.remote.protocol === 'UDP') this.retransmitUntilAck(ok, this.invite.headers.cseq.seq);
    this.media?.start(rtp);
    ctx.metrics.calls.inc({ result: 'answered' });
    ctx.metrics.activeCalls.inc({ codec: this.codec });
    ctx.logger.info({ callId: this.callId, codec: this.codec, ptimeMs: negotiated.ptimeMs, rtpPort: rtp.localPort }, 'call answered');
  }

  private hostPort(): string {
    const host = this.ctx.publicAddress.includes(':') ? `[${this.ctx.publicAddress}]` : this.ctx.publicAddress;
    return `${host}:${this.ctx.stack.port}`;
  }

  /** Sends `ok` (a 200 to the INVITE or a re-INVITE with CSeq `seq`) again until its ACK. */
  private retransmitUntilAck(ok: SipMessage, seq: number): void {
    clearTimeout(this.retransmit);
    this.awaitingAck = seq;
    const started = Date.now();
    const again = (interval: number) => {
      this.retransmit = setTimeout(() => {
        if (this.awaitingAck !== seq || this.state !== 'answered') return;
        if (Date.now() - started >= ACK_TIMEOUT_MS) {
          this.ctx.logger.warn({ callId: this.callId, cseq: seq }, 'the phone never acknowledged the 200 OK: hanging up');
          return this.hangUp();
        }
        this.ctx.stack.resend(ok);
        again(Math.min(interval * 2, T2_MS));
      }, interval);
    };
    again(T1_MS);
  }

  /**
   * A 2xx's ACK ends its retransmissions (the media runs from the 200 on: a phone may send RTP
   * before ACK). Only the ACK with the awaited CSeq: the ACK of the 401 that challenged the INVITE
   * has the same Call-ID but an earlier CSeq (and a phone may send it again).
   */
  onAck(request: SipMessage): void {
    if (this.awaitingAck === undefined || request.headers.cseq?.seq !== this.awaitingAck) return;
    this.awaitingAck = undefined;
    clearTimeout(this.retransmit);
  }

  onBye(request: SipMessage): void {
    this.ctx.stack.respond(request, 200, 'OK');
    this.end();
  }

  onCancel(request: SipMessage): void {
    this.ctx.stack.respond(request, 200, 'OK');
    if (this.state !== 'joining') return; // answered already: the phone sends BYE next
    this.ctx.stack.respond(this.invite, 487, 'Request Terminated');
    this.ctx.metrics.calls.inc({ result: 'cancelled' });
    this.end();
  }

  /**
   * Re-INVITE: hold (the phone offers sendonly or inactive: nothing is sent to it, and the line
   * hears silence, as the phone stops sending), resume (sendrecv), or a session refresh. The codec
   * stays the one first chosen; an offer without it is refused with 488 and the call goes on as it was.
   */
  onReinvite(request: SipMessage): void {
    const { stack, logger } = this.ctx;
    if (this.state !== 'answered' || !this.rtp || !this.media) return void stack.respond(request, 491, 'Request Pending');
    let offer: Negotiated;
    try {
      offer = negotiate(request.content);
    } catch (err) {
      return void stack.respond(request, 488, 'Not Acceptable Here', { headers: { warning: `305 studioline "${(err as Error).message.replace(/"/g, "'")}"` } });
    }
    if (offer.codec !== this.negotiated.codec || offer.payloadType !== this.negotiated.payloadType) {
      return void stack.respond(request, 488, 'Not Acceptable Here', { headers: { warning: `305 studioline "the codec cannot change within a call (${this.codec})"` } });
    }
    const held = offer.direction === 'sendonly' || offer.direction === 'inactive';
    if (held !== !this.media.sendToPhone) logger.info({ callId: this.callId, direction: offer.direction }, held ? 'call held by the phone' : 'call resumed by the phone');
    // The phone moved its media (another address or port: a new network, a transfer to another
    // device behind the same account): followed. The old hold form c=0.0.0.0 is not an address.
    const was = this.rtp.remoteAddress;
    if (offer.remote.address !== '0.0.0.0' && (offer.remote.address !== was.address || offer.remote.port !== was.port)) {
      this.rtp.retarget(offer.remote);
      logger.info({ callId: this.callId, port: offer.remote.port }, 'the phone moved its RTP: following it');
    }
    this.negotiated = { ...this.negotiated, direction: offer.direction, remote: offer.remote.address === '0.0.0.0' ? this.negotiated.remote : offer.remote };
    this.media.sendToPhone = !held;
    const answer = writeAnswer(this.negotiated, { address: this.ctx.publicAddress, port: this.rtp.localPort }, Date.now());
    const ok = stack.respond(request, 200, 'OK', { headers: { contact: [{ uri: `sip:${this.line.number}@${this.hostPort()}`, params: {} }], 'content-type': 'application/sdp' }, content: answer });
    // As for the INVITE's: over UDP the 200 goes again until the ACK comes (RFC 3261 §13.3.1.4).
    if (this.remote.protocol === 'UDP') this.retransmitUntilAck(ok, request.headers.cseq.seq);
  }

  /** What a phone's keys asked for (dtmf.ts). */
  private onMenu(action: MenuAction): void {
    this.ctx.metrics.dtmf.inc({ action });
    if (this.state !== 'answered' || !this.media) return;
    if (action === 'mute' || action === 'unmute') {
      this.media.muted = action === 'mute';
      this.ctx.logger.info({ callId: this.callId }, action === 'mute' ? 'phone muted by its keys (*1)' : 'phone unmuted by its keys (*1)');
    } else if (action === 'talk_on' || action === 'talk_off') {
      this.media.setTalking(action === 'talk_on');
      this.ctx.logger.info({ callId: this.callId }, action === 'talk_on' ? 'phone talking, push-to-talk latched open by its keys (*2)' : 'phone push-to-talk closed by its keys (*2)');
    } else if (action === 'hangup') {
      this.ctx.logger.info({ callId: this.callId }, 'phone hung up by its keys (#)');
      this.hangUp();
    }
  }

  private lineEnded(error?: CallError): void {
    if (this.state === 'ended') return;
    if (this.state === 'answered') this.ctx.logger.info({ callId: this.callId, reason: error?.code ?? 'stopped' }, 'the line ended the call');
    this.hangUp();
  }

  /** Ends the call from our side: BYE to an answered phone. */
  hangUp(): void {
    if (this.state === 'answered') {
      const contact = this.invite.headers.contact;
      const uri = Array.isArray(contact) && contact[0] ? contact[0].uri : this.invite.headers.from.uri;
      this.ctx.stack.send({
        method: 'BYE',
        uri,
        version: '2.0',
        headers: {
          to: this.invite.headers.from,
          from: { ...this.invite.headers.to, params: { ...this.invite.headers.to.params, tag: this.localTag } },
          'call-id': this.callId,
          cseq: { method: 'BYE', seq: this.localSeq++ },
          // The stack fills in the Via's address and branch, but needs the entry to be there.
          via: [{ host: '', params: {} }],
          route: [this.ctx.stack.routeOver(this.remote)],
        },
      });
    } else if (this.state === 'joining') {
      this.ctx.stack.respond(this.invite, 503, 'Service Unavailable');
    }
    this.end();
  }

  private end(): void {
    if (this.state === 'ended') return;
    const wasAnswered = this.state === 'answered';
    this.state = 'ended';
    clearTimeout(this.retransmit);
    this.media?.stop();
    this.rtp?.close();
    this.leg?.leave();
    if (wasAnswered) {
      this.ctx.metrics.activeCalls.dec({ codec: this.codec });
      const rtp = this.rtp?.stats;
      const buffers = this.playout?.stats() ?? [];
      this.ctx.logger.info(
        {
          callId: this.callId,
          rtpReceived: rtp?.received,
          rtpLost: rtp?.lost,
          rtpJitterMs: rtp && Math.round(rtp.jitterMs * 10) / 10,
          framesToLine: this.media?.framesToLine,
          jitterBufferMs: buffers.map((b) => Math.round(b.residenceMs * 10) / 10),
        },
        'call ended',
      );
    }
    this.onEnded(this);
  }

  /** RTP figures for the jitter histogram. */
  get rtpJitterMs(): number | undefined {
    return this.rtp?.stats.jitterMs;
  }
}
