/**
 * The compact layer's codec in the page: WebCodecs' AudioEncoder and AudioDecoder with Opus (the
 * browser's own libopus; Chromium has it, in secure contexts such as https or http://127.0.0.1),
 * run in the call worker. The settings are the protocol's one set (compact-layer.ts).
 *
 * WebCodecs decodes a packet into its own frame only: it has no way to ask for a lost frame's
 * in-band FEC or for concealment (w3c/webcodecs#558, #560). So in the page a lost compact frame is
 * concealed by the jitter buffer, as a lost full-rate frame is; the Node peer rebuilds it from FEC.
 */
import { COMPACT_BITRATE_BPS, COMPACT_COMPLEXITY, COMPACT_DTX, COMPACT_EXPECTED_LOSS_PERCENT, COMPACT_FEC, COMPACT_FRAME_SAMPLES, COMPACT_SAMPLE_RATE, FRAME_MS } from '@studioline/protocol';
import { CompactCodec, CompactDecoder, CompactEncoder, DecodedCompactFrame, floatToPcm } from '../../src/compact-codec.js';

/** A frame's timestamp in WebCodecs' microseconds: its counter times 10 ms, so an output names its frame. */
const US_PER_FRAME = FRAME_MS * 1000;

const ENCODER_CONFIG = {
  codec: 'opus',
  sampleRate: COMPACT_SAMPLE_RATE,
  numberOfChannels: 1,
  bitrate: COMPACT_BITRATE_BPS,
  bitrateMode: 'constant',
  opus: {
    frameDuration: FRAME_MS * 1000,
    complexity: COMPACT_COMPLEXITY,
    packetlossperc: COMPACT_EXPECTED_LOSS_PERCENT,
    useinbandfec: COMPACT_FEC,
    usedtx: COMPACT_DTX,
  },
} as AudioEncoderConfig;

/** Frames handed to the encoder whose packet has not come out yet, at most (a second of audio). */
const MAX_PENDING_FRAMES = 100;

const DECODER_CONFIG: AudioDecoderConfig = { codec: 'opus', sampleRate: COMPACT_SAMPLE_RATE, numberOfChannels: 1 };

class WebEncoder implements CompactEncoder {
  private readonly encoder: AudioEncoder;
  /**
   * Frames are stamped with a running count, never reset (an encoder may derive its outputs'
   * timestamps from the first input's), and each output's stamp finds its frame's counter here.
   */
  private frames = 0;
  private readonly counters = new Map<number, bigint>();

  constructor(onPacket: (packet: Uint8Array, ctr: bigint) => void, onError: (err: Error) => void) {
    this.encoder = new AudioEncoder({
      output: (chunk) => {
        const frame = Math.round(chunk.timestamp / US_PER_FRAME);
        const ctr = this.counters.get(frame);
        if (ctr === undefined) return;
        this.counters.delete(frame);
        const packet = new Uint8Array(chunk.byteLength);
        chunk.copyTo(packet);
        onPacket(packet, ctr);
      },
      error: (err) => onError(err),
    });
    this.encoder.configure(ENCODER_CONFIG);
  }

  encode(pcm: Float32Array, ctr: bigint): void {
    if (this.encoder.state !== 'configured') return;
    const frame = this.frames++;
    this.counters.set(frame, ctr);
    // Frames the encoder never answered (an error) are not kept for ever.
    if (this.counters.size > MAX_PENDING_FRAMES) this.counters.delete(this.counters.keys().next().value as number);
    const data = new AudioData({ format: 'f32', sampleRate: COMPACT_SAMPLE_RATE, numberOfFrames: pcm.length, numberOfChannels: 1, timestamp: frame * US_PER_FRAME, data: pcm as Float32Array<ArrayBuffer> });
    this.encoder.encode(data);
    data.close();
  }

  close(): void {
    if (this.encoder.state !== 'closed') this.encoder.close();
  }
}

class WebDecoder implements CompactDecoder {
  private decoder?: AudioDecoder;

  constructor(
    private readonly onFrame: (frame: DecodedCompactFrame) => void,
    private readonly onError: (err: Error) => void,
  ) {}

  /** WebCodecs closes a codec for good on an error: a new one takes the next packet. */
  private ready(): AudioDecoder {
    if (this.decoder && this.decoder.state !== 'closed') return this.decoder;
    const decoder = new AudioDecoder({ output: (data) => this.output(data), error: (err) => this.onError(err) });
    decoder.configure(DECODER_CONFIG);
    return (this.decoder = decoder);
  }

  decode(ctr: bigint, packet: Uint8Array): void {
    this.ready().decode(new EncodedAudioChunk({ type: 'key', timestamp: Number(ctr) * US_PER_FRAME, data: packet }));
  }

  private output(data: AudioData): void {
    const samples = new Float32Array(data.numberOfFrames);
    data.copyTo(samples, { planeIndex: 0, format: 'f32-planar' });
    const ctr = BigInt(Math.round(data.timestamp / US_PER_FRAME));
    data.close();
    this.onFrame({ ctr, packetCtr: ctr, pcm: floatToPcm(fitFrame(samples)), source: 'decoded' });
  }

  close(): void {
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
  }
}

/**
 * Every frame is 10 ms: a decoder that trims its start-up delay from the first output (some do)
 * would otherwise hand the recorder and jitter buffer a short frame. Padded at the front, so the
 * frame's end stays where it was.
 */
function fitFrame(samples: Float32Array): Float32Array {
  if (samples.length === COMPACT_FRAME_SAMPLES) return samples;
  const out = new Float32Array(COMPACT_FRAME_SAMPLES);
  if (samples.length < COMPACT_FRAME_SAMPLES) out.set(samples, COMPACT_FRAME_SAMPLES - samples.length);
  else out.set(samples.subarray(samples.length - COMPACT_FRAME_SAMPLES));
  return out;
}

/** The WebCodecs Opus codec, or undefined when this browser has none (a full-rate call goes on without the compact layer). */
export async function webCodecsOpus(): Promise<CompactCodec | undefined> {
  if (typeof AudioEncoder === 'undefined' || typeof AudioDecoder === 'undefined') return undefined;
  try {
    const [enc, dec] = await Promise.all([AudioEncoder.isConfigSupported(ENCODER_CONFIG), AudioDecoder.isConfigSupported(DECODER_CONFIG)]);
    if (!enc.supported || !dec.supported) return undefined;
  } catch {
    return undefined;
  }
  return {
    name: 'WebCodecs',
    prepare: async () => undefined,
    encoder: (onPacket, onError) => new WebEncoder(onPacket, onError),
    decoder: (onFrame, onError) => new WebDecoder(onFrame, onError),
  };
}
