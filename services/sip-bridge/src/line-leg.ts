/**
 * The bridge's seat on a line: the call core (packages/client), joined as a `mobile` peer, so it
 * sends and receives only the compact layer (Opus at 48 kHz, compact-layer.ts). A phone's audio
 * is at most 48 kHz, so the full layer (200 kHz PCM, 3.2 Mbit/s) would carry nothing more at 25
 * times the bandwidth. The bridge holds the line's key: audio is end-to-end encrypted up to here.
 */
import { CallLink } from '@studioline/protocol';
import { useNodeCrypto } from '@studioline/protocol/node';
import { CallCore, CallError, FrameSink, nodeOpusCodec, nodeSocketFactory } from '@studioline/client';
import { COMPACT_SAMPLE_RATE } from '@studioline/protocol';

export class LineLeg {
  private readonly core: CallCore;

  constructor(link: CallLink, sink: FrameSink, onEnded: (error?: CallError) => void) {
    useNodeCrypto();
    this.core = new CallCore({
      link,
      url: link.websocketUrl,
      sampleRate: COMPACT_SAMPLE_RATE,
      socket: nodeSocketFactory({}),
      reconnect: true,
      retryFirstConnect: false,
      codec: nodeOpusCodec,
      mobile: true,
    });
    this.core.addSink(sink);
    this.core.on('ended', ({ error }) => onEnded(error));
  }

  /** Joins the line; rejects with the gateway's refusal (a full line, a revoked key, ...). */
  join(): Promise<void> {
    return this.core.start();
  }

  /** One 10 ms frame at 48 kHz from the phone. */
  send(frame: Int16Array): void {
    void this.core.send(frame);
  }

  /** A frame's time without a frame (push-to-talk closed): the frame clock moves on. */
  pause(): void {
    this.core.pause(1);
  }

  get peers(): number {
    return this.core.peers.size;
  }

  leave(): void {
    this.core.stop();
  }
}
