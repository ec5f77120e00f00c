import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AUDIO_ENVELOPE_HEADER_BYTES,
  EnvelopeError,
  MAX_DELIVER_TARGETS,
  decodeAudioEnvelope,
  decodeDeliverEnvelope,
  encodeAudioHeader,
  encodeDeliverHeader,
  isAudioEnvelope,
  isControlEnvelope,
  isDeliverEnvelope,
  preciseNow,
  stampDeliverHeader,
} from '../src/index.js';

const frame = Buffer.from([42, 0x10, ...Array.from({ length: 40 }, (_, i) => i)]);

/** A whole envelope as the bus carries it: the header, then the frame (published as two parts). */
const audioEnvelope = (member: number, sentAt: number) => Buffer.concat([encodeAudioHeader(member, sentAt), frame]);
const deliverEnvelope = (conns: number[], sentAt: number) => Buffer.concat([encodeDeliverHeader(conns, sentAt), frame]);

function refused(fn: () => unknown, words: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof EnvelopeError && err.code === 'malformed_envelope' && words.test(err.message));
}

describe('AUDIO envelope codec', () => {
  it('round-trips member, sentAt and the frame', () => {
    const sentAt = preciseNow();
    const whole = audioEnvelope(0xfffffffe, sentAt);
    const decoded = decodeAudioEnvelope(whole);
    assert.deepEqual({ ...decoded, frame: Buffer.from(decoded.frame) }, { member: 0xfffffffe, sentAt, frame });
    assert.equal(encodeAudioHeader(1, 0).length, AUDIO_ENVELOPE_HEADER_BYTES);
    assert.ok(isAudioEnvelope(whole) && !isDeliverEnvelope(whole) && !isControlEnvelope(whole));
  });

  it('the decoded frame is a view, not a copy', () => {
    const whole = audioEnvelope(7, 1);
    assert.equal(decodeAudioEnvelope(whole).frame.buffer, whole.buffer);
  });

  it('refuses a truncated envelope, one without a frame, and another type, saying which', () => {
    const whole = audioEnvelope(7, 1);
    refused(() => decodeAudioEnvelope(whole.subarray(0, 5)), /AUDIO envelope truncated: 5 bytes/);
    refused(() => decodeAudioEnvelope(whole.subarray(0, AUDIO_ENVELOPE_HEADER_BYTES)), /needs a 13-byte header and a frame/);
    refused(() => decodeAudioEnvelope(Buffer.alloc(0)), /not an AUDIO envelope \(type byte missing\)/);
    refused(() => decodeAudioEnvelope(deliverEnvelope([1], 1)), /not an AUDIO envelope \(type byte 2\)/);
  });
});

describe('DELIVER envelope codec', () => {
  it('round-trips sentAt, every destination and the frame', () => {
    const sentAt = preciseNow();
    for (const conns of [[1], [0xffffffff, 2, 3], Array.from({ length: MAX_DELIVER_TARGETS }, (_, i) => i + 1)]) {
      const decoded = decodeDeliverEnvelope(deliverEnvelope(conns, sentAt));
      assert.deepEqual({ ...decoded, frame: Buffer.from(decoded.frame) }, { sentAt, conns, frame });
    }
  });

  it("a prepared header stamped with a frame's sentAt reads as that frame's envelope, and the prepared one is unchanged", () => {
    const prepared = encodeDeliverHeader([5, 6]);
    const before = Buffer.from(prepared);
    const stamped = stampDeliverHeader(prepared, 1234.5678);
    assert.deepEqual(prepared, before);
    const decoded = decodeDeliverEnvelope(Buffer.concat([stamped, frame]));
    assert.equal(decoded.sentAt, 1234.5678);
    assert.deepEqual(decoded.conns, [5, 6]);
    assert.ok(isDeliverEnvelope(stamped) && !isAudioEnvelope(stamped));
  });

  it('refuses truncated envelopes, no destination, too many destinations, and another type, saying which', () => {
    const whole = deliverEnvelope([1, 2, 3], 1);
    refused(() => decodeDeliverEnvelope(whole.subarray(0, 9)), /DELIVER envelope truncated: 9 bytes/);
    refused(() => decodeDeliverEnvelope(whole.subarray(0, 15)), /truncated: 15 bytes, its 3 destinations need a 22-byte header and a frame/);
    refused(() => decodeDeliverEnvelope(whole.subarray(0, 22)), /its 3 destinations need a 22-byte header and a frame/);
    const none = Buffer.from(whole);
    none[9] = 0;
    refused(() => decodeDeliverEnvelope(none), /names no destination/);
    refused(() => decodeDeliverEnvelope(audioEnvelope(1, 1)), /not a DELIVER envelope \(type byte 1\)/);
    refused(() => encodeDeliverHeader([]), /1 to 255 destinations, not 0/);
    refused(() => encodeDeliverHeader(Array.from({ length: 256 }, (_, i) => i)), /not 256/);
  });
});
