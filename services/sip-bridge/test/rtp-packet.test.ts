import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRtp, writeRtp } from '../src/rtp-packet.js';

describe('RTP packets', () => {
  it('round-trips the header and payload', () => {
    const payload = new Uint8Array([1, 2, 3, 4]);
    const wire = writeRtp({ payloadType: 111, marker: true, sequence: 65535, timestamp: 2 ** 32 - 1, ssrc: 0xdeadbeef }, payload);
    const p = parseRtp(wire)!;
    assert.deepEqual({ ...p, payload: [...p.payload] }, { payloadType: 111, marker: true, sequence: 65535, timestamp: 2 ** 32 - 1, ssrc: 0xdeadbeef, payload: [1, 2, 3, 4] });
  });

  it('skips CSRCs, a header extension and padding to find the payload', () => {
    const b = Buffer.from([0xb1, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, /* csrc */ 9, 9, 9, 9, /* ext */ 0xbe, 0xde, 0, 1, 7, 7, 7, 7, /* payload */ 0xaa, 0xbb, /* padding */ 0, 2]);
    assert.deepEqual([...parseRtp(b)!.payload], [0xaa, 0xbb]);
  });

  it('returns undefined, never throws, for what is not RTP', () => {
    assert.equal(parseRtp(new Uint8Array(11)), undefined, 'too short');
    assert.equal(parseRtp(Buffer.from([0x40, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3])), undefined, 'version 1');
    assert.equal(parseRtp(Buffer.from([0x8f, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3])), undefined, 'CSRCs past the end');
    assert.equal(parseRtp(Buffer.from([0xa0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xff])), undefined, 'padding longer than the packet');
  });
});
