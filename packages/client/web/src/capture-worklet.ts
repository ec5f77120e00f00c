/**
 * Capture: collects the microphone's 128-sample render quanta into 10 ms frames of 16-bit PCM,
 * each ending with a device callback (frame-assembler.ts), and hands each frame straight to the
 * call worker through its media port (transferred, not copied), with the wall-clock time it left. With the click probe on (a test hook for the latency
 * benchmark) it also reports, on its own port, when it sees each click.
 */
import { FrameAssembler } from '../../src/frame-assembler.js';
import { ClickProbe } from './click-probe.js';
import type { CapturedFrame, WorkletControl } from './media-messages.js';

class CaptureProcessor extends AudioWorkletProcessor {
  private readonly frames = new FrameAssembler(Math.round(sampleRate / 100), (pcm, fillWaitMs) => {
    // Stamped, so the worker can measure how long frames take to reach it (the latency the page shows).
    const message: CapturedFrame = { type: 'frame', pcm, at: Date.now(), fillWaitMs };
    this.media?.postMessage(message, [pcm.buffer]);
  });
  private probe?: ClickProbe;
  /** To the call worker; until the page hands it over, nothing is captured. */
  private media?: MessagePort;

  constructor() {
    super();
    this.port.onmessage = (e: MessageEvent<WorkletControl>) => {
      if (e.data.type === 'media-port') this.media = e.data.port;
      else if (e.data.type === 'probe') this.probe = e.data.on ? new ClickProbe(sampleRate) : undefined;
    };
  }

  process(inputs: Float32Array[][]): boolean {
    const input = inputs[0]?.[0];
    if (!input || !this.media) return true;
    const now = Date.now();
    if (this.probe) {
      const at = this.probe.scan(input, now);
      if (at !== undefined) this.port.postMessage({ type: 'click', at });
    }
    this.frames.push(input, now);
    return true;
  }
}
registerProcessor('studioline-capture', CaptureProcessor);
