import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RespError, RespReader, RespValue, encodeCommand } from '../src/index.js';

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
  const reader = new RespReader((v) => got.push(v));
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

  it('refuses bytes that are not RESP instead of guessing', () => {
    const reader = new RespReader(() => undefined);
    assert.throws(() => reader.feed(Buffer.from('HTTP/1.1 400 Bad Request\r\n')), /unexpected RESP type byte 0x48/);
  });

  it('encodes commands as RESP arrays of bulk strings', () => {
    assert.equal(encodeCommand(['SUBSCRIBE', 'a', Buffer.from('bé')]).toString(), '*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$3\r\nbé\r\n');
  });
});
