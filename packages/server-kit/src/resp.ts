/**
 * The part of RESP2 (the Redis protocol) that the audio path needs, written for throughput: replies
 * are read straight out of the socket's chunks (bulk strings are handed on as views of them, not
 * copies), and commands are written as a list of buffers for one writev.
 *
 * Why not ioredis here: its parser gathers bulk strings that span chunks in a shared pool that it
 * regrows to several times the message size (up to ~100 MB), and its encoder copies every argument
 * into a fresh buffer. At tens of thousands of 4 kB frames a second that allocation rate, not the
 * work, dominated the relay's CPU: V8 ran a full mark-compact every ~50 ms for external memory.
 */
export class RespError extends Error {}

/**
 * A bulk string that arrived across several socket chunks, as views of those chunks (no copy):
 * a batch of frames is cut by nearly every chunk boundary, and gathering it into one buffer would
 * allocate as many bytes as the audio itself. `bytes()` gathers it for the rare small one.
 */
export class Segments {
  constructor(
    readonly parts: Buffer[],
    readonly length: number,
  ) {}

  bytes(): Buffer {
    return Buffer.concat(this.parts, this.length);
  }
}

export type RespValue = Buffer | Segments | number | string | null | RespError | RespValue[];

const CR = 0x0d;

/** Incremental reader: feed it socket chunks, it calls `onValue` with each complete top-level value. */
export class RespReader {
  /** The start of a value whose header line was cut by the end of a chunk. */
  private carry: Buffer | undefined;
  /** A bulk string cut by the end of a chunk: the views of it so far, and what is left to read. */
  private bulk: { parts: Buffer[]; length: number; missing: number; crlf: number } | undefined;
  /** The array being read (RESP2 pub/sub replies are arrays of scalars: no nesting needed). */
  private array: { items: RespValue[]; left: number } | undefined;

  constructor(private readonly onValue: (value: RespValue) => void) {}

  feed(chunk: Buffer): void {
    let buf = chunk;
    let pos = 0;
    if (this.bulk) {
      pos = this.continueBulk(chunk);
      if (this.bulk) return;
    }
    if (this.carry) {
      buf = Buffer.concat([this.carry, chunk.subarray(pos)]);
      pos = 0;
      this.carry = undefined;
    }
    while (pos < buf.length) {
      const eol = buf.indexOf(CR, pos);
      if (eol < 0 || eol + 1 >= buf.length) {
        this.carry = Buffer.from(buf.subarray(pos));
        return;
      }
      const type = buf[pos];
      const line = buf.toString('latin1', pos + 1, eol);
      pos = eol + 2;
      switch (type) {
        case 0x24 /* $ */: {
          const length = Number(line);
          if (length < 0) this.value(null);
          else if (pos + length + 2 <= buf.length) {
            this.value(buf.subarray(pos, pos + length));
            pos += length + 2;
          } else {
            const part = buf.subarray(pos, Math.min(buf.length, pos + length));
            this.bulk = { parts: part.length ? [part] : [], length, missing: length - part.length, crlf: 2 - Math.max(0, buf.length - pos - length) };
            return;
          }
          break;
        }
        case 0x2a /* * */: {
          const count = Number(line);
          if (count <= 0) this.value(count < 0 ? null : []);
          else if (this.array) throw new RespError('nested RESP arrays are not expected here');
          else this.array = { items: [], left: count };
          break;
        }
        case 0x3a /* : */:
          this.value(Number(line));
          break;
        case 0x2b /* + */:
          this.value(line);
          break;
        case 0x2d /* - */:
          this.value(new RespError(line));
          break;
        default:
          throw new RespError(`unexpected RESP type byte 0x${type.toString(16)}`);
      }
    }
  }

  /** Forgets a partly read value (the connection was lost). */
  reset(): void {
    this.carry = undefined;
    this.bulk = undefined;
    this.array = undefined;
  }

  /** Takes the next part of a cut bulk string; returns where the rest of the chunk starts. */
  private continueBulk(chunk: Buffer): number {
    const bulk = this.bulk!;
    let pos = 0;
    if (bulk.missing > 0) {
      pos = Math.min(chunk.length, bulk.missing);
      bulk.parts.push(chunk.subarray(0, pos));
      bulk.missing -= pos;
    }
    const skip = Math.min(bulk.crlf, chunk.length - pos);
    bulk.crlf -= skip;
    pos += skip;
    if (bulk.missing === 0 && bulk.crlf === 0) {
      this.bulk = undefined;
      this.value(new Segments(bulk.parts, bulk.length));
    }
    return pos;
  }

  private value(v: RespValue): void {
    const array = this.array;
    if (!array) return this.onValue(v);
    array.items.push(v);
    if (--array.left === 0) {
      this.array = undefined;
      this.onValue(array.items);
    }
  }
}

/** One command as a single buffer (for the rare, small commands: AUTH, SUBSCRIBE ...). */
export function encodeCommand(args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg) : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, CRLF);
  }
  return Buffer.concat(parts);
}

export const CRLF = Buffer.from('\r\n');

/** The bytes of `PUBLISH channel` (or SPUBLISH) up to the message's length: precomputed once per channel. */
export function publishPrefix(channel: string, command: 'PUBLISH' | 'SPUBLISH' = 'PUBLISH'): Buffer {
  const name = Buffer.from(channel);
  return Buffer.concat([Buffer.from(`*3\r\n$${command.length}\r\n${command}\r\n$${name.length}\r\n`), name, CRLF]);
}
