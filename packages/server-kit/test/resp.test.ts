import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RespError, RespReader, RespValue, Segments, encodeCommand } from '../src/resp.js';
import { unbatch } from '../src/bus.js';

/** What Redis sends a subscriber: confirmations, messages of every size, and the odd scalar. */
function stream(): { bytes: Buffer; values: RespValue[] } {
  const payloads = [Buffer.alloc(0), Buffer.from('x'), Buffer.alloc(4045, 7), Buffer.alloc(300_000, 3), Buffer.from('\r\n$3\r\n*1\r\n')];
  payloads[3][1000] = 0x0d; // bytes that look like protocol inside a payload must not confuse the reader
  const parts: Buffer[] = [Buffer.from('*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n')];
  const values: RespValue[] = [[Buffer.from('subscribe'), Buffer.from('ch'), 1]];
  for (const p of payloads) {
    parts.push(Buffer.from(`*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$${p.length}\r\n`), p, Buffer.from('\r\n'));
    values.push([Buffer.from('message'), Buffer.from('ch'), p]);
  }
  parts.push(Buffer.from(':42\r\n+OK\r\n-ERR no such thing\r\n$-1\r\n*0\r\n'));
  values.push(42, 'OK', new RespError('ERR no such thing'), null, []);
  return { bytes: Buffer.concat(parts), values };
}

function read(chunks: Buffer[]): RespValue[] {
  const got: RespValue[] = [];
  // A bulk string cut across chunks comes as views of them; compared here by its bytes.
  const gather = (v: RespValue): RespValue => (v instanceof Segments ? v.bytes() : Array.isArray(v) ? v.map(gather) : v);
  const reader = new RespReader((v) => got.push(gather(v)));
  // Copies, as a socket hands out fresh chunks: the reader must not rely on them staying adjacent.
  for (const c of chunks) reader.feed(Buffer.from(c));
  return got;
}

describe('RESP reader', () => {
  it('reads the same values however the stream is cut into chunks', () => {
    const { bytes, values } = stream();
    assert.deepEqual(read([bytes]), values);
    for (const size of [1, 2, 3, 7, 64, 4096, 65536]) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
      assert.deepEqual(read(chunks), values, `chunks of ${size} bytes`);
    }
    // Every cut position around the small values at the start and the end.
    for (const cut of [...Array(120).keys(), ...Array.from({ length: 60 }, (_, i) => bytes.length - 1 - i)]) {
      assert.deepEqual(read([bytes.subarray(0, cut), bytes.subarray(cut)]), values, `cut at ${cut}`);
    }
  });

  it('splits a batch of bus messages however it was cut into chunks, copying only messages that straddle a cut', () => {
    const messages = Array.from({ length: 40 }, (_, i) => Buffer.alloc(1 + ((i * 997) % 5000), i));
    const batch = Buffer.concat([Buffer.from([0]), ...messages.flatMap((m) => [Buffer.from([0, 0, m.length >> 8, m.length & 0xff]), m])]);
    for (const size of [1, 3, 4096, 65536, batch.length]) {
      const parts: Buffer[] = [];
      for (let at = 0; at < batch.length; at += size) parts.push(batch.subarray(at, at + size));
      const got: Buffer[] = [];
      unbatch(parts.length === 1 ? parts[0] : new Segments(parts, batch.length), (m) => got.push(m));
      assert.deepEqual(got, messages, `cut every ${size} bytes`);
      if (size === 65536) assert.ok(got.filter((m) => m.buffer === batch.buffer).length >= 36, 'most messages are views');
    }
    const lone = Buffer.from([2, 1, 2, 3]);
    const got: Buffer[] = [];
    unbatch(new Segments([lone.subarray(0, 1), lone.subarray(1)], 4), (m) => got.push(m));
    assert.deepEqual(got, [lone], 'a message that is not a batch is handed on whole');
  });

  it('refuses bytes that are not RESP instead of guessing', () => {
    const reader = new RespReader(() => undefined);
    assert.throws(() => reader.feed(Buffer.from('HTTP/1.1 400 Bad Request\r\n')), /unexpected RESP type byte 0x48/);
  });

  it('encodes commands as RESP arrays of bulk strings', () => {
    assert.equal(encodeCommand(['SUBSCRIBE', 'a', Buffer.from('bé')]).toString(), '*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$3\r\nbé\r\n');
  });
});
