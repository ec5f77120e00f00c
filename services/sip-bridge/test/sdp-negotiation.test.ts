import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'sdp-transform';
import { NegotiationError, negotiate, writeAnswer } from '../src/sdp-negotiation.js';

function offer(media: string, extra: string[] = []): string {
  return ['v=0', 'o=phone 1 1 IN IP4 127.0.0.1', 's=call', 'c=IN IP4 127.0.0.1', 't=0 0', media, ...extra, ''].join('\r\n');
}

describe('SDP offer/answer with phones', () => {
  it('prefers Opus to G.711 whatever order the phone lists them in', () => {
    const n = negotiate(offer('m=audio 7000 RTP/AVP 0 8 111 101', ['a=rtpmap:111 opus/48000/2', 'a=rtpmap:101 telephone-event/8000']));
    assert.equal(n.codec.name, 'opus');
    assert.equal(n.payloadType, 111);
    assert.deepEqual(n.remote, { address: '127.0.0.1', port: 7000 });
    assert.equal(n.ptimeMs, 20);
  });

  it('takes µ-law before A-law, static payload types without an rtpmap, and the phone\'s ptime', () => {
    assert.equal(negotiate(offer('m=audio 7000 RTP/AVP 8 0')).codec.name, 'PCMU');
    const alaw = negotiate(offer('m=audio 7000 RTP/AVP 8', ['a=ptime:30']));
    assert.equal(alaw.codec.name, 'PCMA');
    assert.equal(alaw.payloadType, 8);
    assert.equal(alaw.ptimeMs, 30);
  });

  it('refuses what it cannot serve, saying why (the text goes into the 488 Warning)', () => {
    const refuses = (sdp: string | undefined, why: RegExp) => assert.throws(() => negotiate(sdp), (e: Error) => e instanceof NegotiationError && why.test(e.message));
    refuses(undefined, /no SDP offer/);
    refuses(offer('m=audio 7000 RTP/AVP 18', ['a=rtpmap:18 G729/8000']), /no common codec: the bridge speaks opus, PCMU, PCMA/);
    refuses(offer('m=audio 7000 RTP/SAVP 0'), /RTP\/SAVP is not supported/);
    refuses(offer('m=video 7000 RTP/AVP 96'), /no audio stream/);
    refuses('v=0\r\nm=audio 7000 RTP/AVP 0\r\n', /no connection address/);
  });

  it('reads hold from the offer (sendonly, inactive, or the old c=0.0.0.0) and answers its mirror', () => {
    assert.equal(negotiate(offer('m=audio 7000 RTP/AVP 0')).direction, 'sendrecv');
    const held = negotiate(offer('m=audio 7000 RTP/AVP 0', ['a=sendonly']));
    assert.equal(held.direction, 'sendonly');
    assert.equal(parse(writeAnswer(held, { address: '127.0.0.1', port: 20_000 }, 1)).media[0].direction, 'recvonly');
    assert.equal(negotiate(offer('m=audio 7000 RTP/AVP 0').replace('c=IN IP4 127.0.0.1', 'c=IN IP4 0.0.0.0')).direction, 'inactive');
  });

  it('answers with the one codec chosen, at the bridge\'s RTP address, sendrecv', () => {
    const n = negotiate(offer('m=audio 7000 RTP/AVP 0 111', ['a=rtpmap:111 opus/48000/2']));
    const answer = parse(writeAnswer(n, { address: '127.0.0.1', port: 20_002 }, 42));
    assert.equal(answer.connection?.ip, '127.0.0.1');
    const [m] = answer.media;
    assert.equal(m.port, 20_002);
    assert.equal(String(m.payloads), '111');
    assert.deepEqual(m.rtp, [{ payload: 111, codec: 'opus', rate: 48_000, encoding: 2 }]);
    assert.match(m.fmtp[0].config, /useinbandfec=1/);
    assert.equal(m.direction, 'sendrecv');
  });
});
