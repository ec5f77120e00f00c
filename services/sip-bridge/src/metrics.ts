/** Every metric of the SIP bridge, defined in one place. Labels are low-cardinality: never an account, a number or a line. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface SipBridgeMetrics {
  sipRequests: Counter<'method'>;
  sipRefused: Counter<'reason'>;
  sipMalformed: Counter<'transport' | 'outcome'>;
  registrations: Counter<'result'>;
  registered: Gauge;
  calls: Counter<'result'>;
  activeCalls: Gauge<'codec'>;
  rtpPackets: Counter<'direction'>;
  rtpLost: Counter;
  rtpDropped: Counter<'reason'>;
  rtpJitter: Histogram;
  dtmf: Counter<'action'>;
}

export function createSipBridgeMetrics(registry: Registry, registeredNow: () => number): SipBridgeMetrics {
  const registers = [registry];
  return {
    sipRequests: new Counter({ name: 'studioline_sip_requests_total', help: 'SIP requests received, by method (OTHER for methods the bridge does not know)', labelNames: ['method'], registers }),
    sipRefused: new Counter({
      name: 'studioline_sip_requests_refused_total',
      help: 'SIP requests refused before any work: rate_limited (503, more than SIP_RATE_LIMIT from one address), malformed (400, a request that parses but cannot be served)',
      labelNames: ['reason'],
      registers,
    }),
    sipMalformed: new Counter({
      name: 'studioline_sip_malformed_total',
      help: 'SIP messages that are not SIP, by transport (udp, tcp) and outcome: dropped (nothing to answer to), answered (400), stream_closed (TCP: a header block or body past the limit)',
      labelNames: ['transport', 'outcome'],
      registers,
    }),
    registrations: new Counter({
      name: 'studioline_sip_registrations_total',
      help: 'REGISTER outcomes: ok, unregistered, challenged (no credentials yet), refused (wrong password or unknown account), rate_limited (too many failures from the address), stale (expired nonce), interval_too_brief, forbidden (registering another account), malformed',
      labelNames: ['result'],
      registers,
    }),
    registered: new Gauge({
      name: 'studioline_sip_registered_phones',
      help: 'Phones registered now (unexpired bindings)',
      registers,
      collect() {
        this.set(registeredNow());
      },
    }),
    calls: new Counter({
      name: 'studioline_sip_calls_total',
      help: 'Incoming calls by outcome: answered, challenged, refused (authentication), rate_limited (too many failures from the address), forbidden (an extension dialling another line than its own), not_found, busy, not_acceptable (no common codec or no SDP offer), cancelled, line_failed (the line could not be joined)',
      labelNames: ['result'],
      registers,
    }),
    activeCalls: new Gauge({ name: 'studioline_sip_active_calls', help: 'Calls in progress, by the codec negotiated with the phone', labelNames: ['codec'], registers }),
    rtpPackets: new Counter({ name: 'studioline_sip_rtp_packets_total', help: 'RTP packets from phones (in) and to phones (out)', labelNames: ['direction'], registers }),
    rtpLost: new Counter({ name: 'studioline_sip_rtp_lost_total', help: 'RTP packets from phones that never arrived (gaps in the sequence numbers)', registers }),
    rtpDropped: new Counter({
      name: 'studioline_sip_rtp_dropped_total',
      help: 'RTP packets from phones dropped: malformed, wrong_source (not the negotiated phone), payload_type (not the negotiated codec), decode (the codec refused it)',
      labelNames: ['reason'],
      registers,
    }),
    rtpJitter: new Histogram({
      name: 'studioline_sip_rtp_jitter_ms',
      help: 'Interarrival jitter of phones\' RTP (RFC 3550), sampled once a second per call, ms',
      buckets: [1, 2, 5, 10, 20, 40, 80, 160],
      registers,
    }),
    dtmf: new Counter({
      name: 'studioline_sip_dtmf_events_total',
      help: 'DTMF key presses from phones (RFC 4733), by what they did: mute, unmute (*1), talk_off, talk_on (*2, push-to-talk latched), hangup (#), key (no menu action)',
      labelNames: ['action'],
      registers,
    }),
  };
}
