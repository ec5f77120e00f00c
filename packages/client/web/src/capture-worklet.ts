/**
 * Capture: collects the microphone's 128-sample render quanta into 10 ms frames of 16-bit PCM and
 * hands each frame to the main thread (transferred, not copied) with the wall-clock time it left. With the click probe on (a test
 * hook for the latency benchmark) it also reports when it sees each click.
 */
import { ClickProbe } from './click-probe.js';

class CaptureProcessor extends AudioWorkletProcessor {
  private readonly frameSamples = Math.round(sampleRate / 100);
  private frame = new Int16Array(this.frameSamples);
  private filled = 0;
  private probe?: ClickProbe;

  constructor() {
    super();
    this.port.onmessage = (e: MessageEvent) => {
      if (e.data?.type === 'probe') this.probe = e.data.on ? new ClickProbe(sampleRate) : undefined;
    };
  }

  process(inputs: Float32Array[][]): boolean {
    const input = inputs[0]?.[0];
    if (!input) return true;
    if (this.probe) {
      const at = this.probe.scan(input, Date.now());
      if (at !== undefined) this.port.postMessage({ type: 'click', at });
    }
    for (let i = 0; i < input.length; i++) {
      const s = Math.max(-1, Math.min(1, input[i]));
      this.frame[this.filled++] = s < 0 ? s * 32768 : s * 32767;
      if (this.filled === this.frameSamples) {
        // Stamped, so the page can measure how long frames take to reach it (the latency it shows).
        this.port.postMessage({ type: 'frame', pcm: this.frame, at: Date.now() }, [this.frame.buffer]);
        this.frame = new Int16Array(this.frameSamples);
        this.filled = 0;
      }
    }
    return true;
  }
}
registerProcessor('studioline-capture', CaptureProcessor);
