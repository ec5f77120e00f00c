/**
 * One call's audio, both ways, between the phone's RTP and the line:
 *
 *   phone -> line: RTP payload -> codec -> PCM at the codec's rate -> resampler (libsamplerate,
 *     anti-aliased) -> 48 kHz -> 10 ms frames -> the line (compact layer). The phone's packets
 *     drive this side: no buffer is added beyond cutting packets into frames. A lost packet (a
 *     gap in the sequence of at most MAX_FILLED_PACKETS) is replaced by silence of its length, so
 *     the line's timeline keeps step with the phone's.
 *   line -> phone: each sender's jitter buffer (phone-playout.ts), read and mixed every packet
 *     time on the bridge's clock -> resampler -> the codec's rate -> codec -> RTP.
 */
import { COMPACT_SAMPLE_RATE, samplesPerFrame } from '@studioline/protocol';
import { Resampler, TalkGate, toFloat } from '@studioline/client';
import { PhoneCodec } from './phone-codecs.js';
import { PhonePlayout } from './phone-playout.js';
import { RtpSession } from './rtp-session.js';
import { SampleFifo, toPcm16 } from './sample-fifo.js';
import { LineLeg } from './line-leg.js';
import type { RtpPacket } from './rtp-packet.js';

/** Up to this many lost packets in a row are filled with silence; a longer gap is an outage and stays one. */
export const MAX_FILLED_PACKETS = 5;
/** How often the send clock looks whether a packet is due (the clock itself is exact; this bounds the wait). */
const SEND_TICK_MS = 5;
/** Packets the send clock may owe after a stall before it skips ahead instead of bursting. */
const MAX_CATCH_UP_PACKETS = 5;

export class CallMedia {
  private readonly toLine: Resampler;
  private readonly toPhone: Resampler;
  private readonly lineFifo = new SampleFifo(COMPACT_SAMPLE_RATE); // 1 s
  private readonly phoneFifo: SampleFifo;
  private readonly frame48 = samplesPerFrame(COMPACT_SAMPLE_RATE);
  private readonly packet48: number;
  private readonly packetPhone: number;
  private readonly packetClock: number;
  private readonly mix: Float32Array;
  private timer?: ReturnType<typeof setInterval>;
  private startedAt = 0;
  private sentPackets = 0;
  /** Frames sent to the line (for the figures). */
  framesToLine = 0;
  /**
   * False while the phone holds the call (its SDP asked not to be sent to): the clock runs on and
   * the line's audio is read (the jitter buffers stay drained), but nothing goes to the phone.
   */
  sendToPhone = true;
  /** The phone muted itself toward the line (DTMF *1): its packets are counted but not sent on. */
  muted = false;
  /**
   * Push-to-talk latched by the phone's keys (DTMF *2, dtmf.ts): the core's talk gate, so that the
   * phone's channel opens and closes as a push-to-talk peer's does (faded edges; while closed the
   * call core is told it paused, and listeners keep the pause in time instead of counting it lost).
   */
  private readonly gate = new TalkGate('hot', COMPACT_SAMPLE_RATE);

  constructor(
    private readonly codec: PhoneCodec,
    private readonly ptimeMs: number,
    private readonly playout: PhonePlayout,
    private readonly leg: LineLeg,
    private readonly now: () => number = () => performance.now(),
  ) {
    const rate = codec.spec.sampleRate;
    this.toLine = new Resampler(rate, COMPACT_SAMPLE_RATE);
    this.toPhone = new Resampler(COMPACT_SAMPLE_RATE, rate);
    this.packet48 = (COMPACT_SAMPLE_RATE * ptimeMs) / 1000;
    this.packetPhone = (rate * ptimeMs) / 1000;
    this.packetClock = (codec.spec.clockRate * ptimeMs) / 1000;
    this.phoneFifo = new SampleFifo(rate);
    this.mix = new Float32Array(this.packet48);
  }

  /** A packet from the phone (already checked by the RTP session); `gap` packets were lost just before it. */
  fromPhone(packet: RtpPacket, gap: number): void {
    if (this.muted) return;
    if (gap > 0 && gap <= MAX_FILLED_PACKETS) this.toLineSamples(new Float32Array(gap * this.packetPhone));
    let pcm: Int16Array;
    try {
      pcm = this.codec.decode(packet.payload);
    } catch {
      return;
    }
    this.toLineSamples(toFloat(pcm));
  }

  /** DTMF *2: the phone's channel toward the line opened (true) or closed (false), push-to-talk from now on. */
  setTalking(open: boolean): void {
    this.gate.setMode('ptt');
    if (open) this.gate.press(this.now());
    else this.gate.release();
  }

  private toLineSamples(samples: Float32Array): void {
    this.lineFifo.push(this.toLine.process(samples));
    for (let f = this.lineFifo.take(this.frame48); f; f = this.lineFifo.take(this.frame48)) {
      const frame = this.gate.process(toPcm16(f), this.now());
      if (frame) {
        this.leg.send(frame);
        this.framesToLine++;
      } else this.leg.pause();
    }
  }

  /** Starts the clock that sends the line's audio to the phone, one packet every ptime. */
  start(rtp: RtpSession): void {
    this.startedAt = this.now();
    this.timer = setInterval(() => this.tick(rtp), Math.min(SEND_TICK_MS, this.ptimeMs));
  }

  private tick(rtp: RtpSession): void {
    const now = this.now();
    const due = Math.floor((now - this.startedAt) / this.ptimeMs) + 1;
    if (due - this.sentPackets > MAX_CATCH_UP_PACKETS) this.sentPackets = due - 1;
    for (; this.sentPackets < due; this.sentPackets++) {
      this.playout.read(this.mix, this.startedAt + this.sentPackets * this.ptimeMs);
      this.phoneFifo.push(this.toPhone.process(this.mix));
      // The resampler's first output lags by its filter: the first packets are padded with silence.
      const pcm = toPcm16(this.phoneFifo.takePadded(this.packetPhone));
      if (this.sendToPhone) rtp.send(this.codec.encode(pcm), this.packetClock);
      else rtp.skip(this.packetClock);
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.toLine.close();
    this.toPhone.close();
    this.codec.close();
  }
}
