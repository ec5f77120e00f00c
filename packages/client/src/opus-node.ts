/**
 * The compact layer's codec in Node: libopus 1.6 compiled to WebAssembly, through `libopus-wasm`
 * (MIT; libopus is BSD-3-Clause). Chosen over the alternatives because it exposes the two things a
 * receiver needs against loss, which the others' wrappers hide: decoding a lost frame from the
 * next packet's in-band FEC (`decodeFec`), and concealment of exactly one 10 ms frame
 * (`decodePacketLoss`). `opusscript` (libopus 1.4, the most used) decodes with FEC off and can
 * conceal only 120 ms at a time; `@discordjs/opus` is native and needs an install script, which
 * npm here does not run. WebAssembly needs no build step and runs the same on every machine.
 *
 * The page does not use this: it has WebCodecs (web/src/webcodecs-opus.ts).
 */
import {
  COMPACT_BITRATE_BPS,
  COMPACT_COMPLEXITY,
  COMPACT_DTX,
  COMPACT_EXPECTED_LOSS_PERCENT,
  COMPACT_FEC,
  COMPACT_FRAME_SAMPLES,
  COMPACT_MAX_PACKET_BYTES,
  COMPACT_SAMPLE_RATE,
} from '@studioline/protocol';
import type { CompactCodec, CompactDecoder, CompactEncoder, CompactFrameSource, DecodedCompactFrame } from './compact-codec.js';

type Libopus = typeof import('libopus-wasm', { with: { 'resolution-mode': 'import' } });
type EncoderHandle = Awaited<ReturnType<Libopus['createEncoder']>>;
type DecoderHandle = Awaited<ReturnType<Libopus['createDecoder']>>;

/**
 * A gap of more than this many frames (100 ms) is an outage, not loss: the frames after it are
 * decoded afresh and the gap stays a gap, for the jitter buffer to handle and a recording to show.
 */
export const MAX_CONCEALED_FRAMES = 10;
/**
 * Frames held while an encoder or decoder is still being made (asynchronous, once, within a few
 * ms): 2 s of them, as a busy process may take in one burst; a codec that never comes holds no
 * more, and each frame past it is a codec error (counted in the call's figures).
 */
const MAX_HELD = 200;

let loaded: Promise<Libopus> | undefined;
function libopus(): Promise<Libopus> {
  // A real dynamic import: the package is an ES module, this one is compiled to CommonJS.
  loaded ??= import('libopus-wasm');
  return loaded;
}

/** True when an Opus packet's TOC byte says SILK or hybrid mode, the modes that carry in-band FEC. */
function mayCarryFec(packet: Uint8Array): boolean {
  return packet.length > 0 && packet[0] >> 3 < 16;
}

class NodeEncoder implements CompactEncoder {
  private encoder?: EncoderHandle;
  private held: [Float32Array, bigint][] = [];
  private closed = false;

  constructor(
    private readonly onPacket: (packet: Uint8Array, ctr: bigint) => void,
    private readonly onError: (err: Error) => void,
  ) {
    libopus()
      .then((lib) =>
        lib.createEncoder({
          sampleRate: COMPACT_SAMPLE_RATE,
          channels: 1,
          application: lib.Application.Audio,
          bitrate: COMPACT_BITRATE_BPS,
          vbr: false,
          complexity: COMPACT_COMPLEXITY,
          fec: COMPACT_FEC,
          packetLossPercent: COMPACT_EXPECTED_LOSS_PERCENT,
          dtx: COMPACT_DTX,
          frameSize: COMPACT_FRAME_SAMPLES,
        }),
      )
      .then((encoder) => {
        if (this.closed) return encoder.free();
        this.encoder = encoder;
        const held = this.held;
        this.held = [];
        for (const [pcm, ctr] of held) this.encode(pcm, ctr);
      }, onError);
  }

  encode(pcm: Float32Array, ctr: bigint): void {
    if (!this.encoder) {
      if (this.held.length < MAX_HELD) this.held.push([pcm, ctr]);
      else this.onError(new Error('the Opus encoder is not ready: a frame was not encoded'));
      return;
    }
    try {
      this.onPacket(this.encoder.encodeFloat(pcm, { maxPacketBytes: COMPACT_MAX_PACKET_BYTES }).slice(), ctr);
    } catch (err) {
      this.onError(err as Error);
    }
  }

  close(): void {
    this.closed = true;
    this.encoder?.free();
    this.encoder = undefined;
  }
}

class NodeDecoder implements CompactDecoder {
  private decoder?: DecoderHandle;
  private held: [bigint, Uint8Array][] = [];
  private last?: bigint;
  private closed = false;

  constructor(
    private readonly onFrame: (frame: DecodedCompactFrame) => void,
    private readonly onError: (err: Error) => void,
  ) {
    libopus()
      .then((lib) => lib.createDecoder({ sampleRate: COMPACT_SAMPLE_RATE, channels: 1 }))
      .then((decoder) => {
        if (this.closed) return decoder.free();
        this.decoder = decoder;
        const held = this.held;
        this.held = [];
        for (const [ctr, packet] of held) this.decode(ctr, packet);
      }, onError);
  }

  decode(ctr: bigint, packet: Uint8Array): void {
    const decoder = this.decoder;
    if (!decoder) {
      if (this.held.length < MAX_HELD) this.held.push([ctr, packet.slice()]);
      else this.onError(new Error('the Opus decoder is not ready: a frame was not decoded'));
      return;
    }
    // Late (its turn was concealed already) or a repeat: the stream has moved on.
    if (this.last !== undefined && ctr <= this.last) return;
    try {
      const gap = this.last === undefined ? 0 : Number(ctr - this.last - 1n);
      if (gap > 0 && gap <= MAX_CONCEALED_FRAMES) {
        // Every frame but the last missing one is concealed; the last is rebuilt from this packet's FEC.
        for (let i = 1; i < gap; i++) this.out(ctr - BigInt(gap - i + 1), ctr, decoder.decodePacketLoss(COMPACT_FRAME_SAMPLES), 'plc');
        const rebuilt = decoder.decode(packet, { decodeFec: true, frameSize: COMPACT_FRAME_SAMPLES });
        this.out(ctr - 1n, ctr, rebuilt, mayCarryFec(packet) ? 'fec' : 'plc');
      }
      this.out(ctr, ctr, decoder.decode(packet), 'decoded');
    } catch (err) {
      this.onError(err as Error);
    }
    this.last = ctr;
  }

  private out(ctr: bigint, packetCtr: bigint, pcm: Int16Array, source: CompactFrameSource): void {
    // A copy: the decoder's output may live in WebAssembly memory that the next call reuses.
    this.onFrame({ ctr, packetCtr, pcm: pcm.slice(), source });
  }

  close(): void {
    this.closed = true;
    this.decoder?.free();
    this.decoder = undefined;
  }
}

export const nodeOpusCodec: CompactCodec = {
  name: 'libopus (WebAssembly)',
  async prepare() {
    // The module, and its WebAssembly compiled: encoders and decoders are then made within a tick.
    await (await libopus()).loadLibopus();
  },
  encoder: (onPacket, onError) => new NodeEncoder(onPacket, onError),
  decoder: (onFrame, onError) => new NodeDecoder(onFrame, onError),
};
