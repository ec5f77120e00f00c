/** The browser's audio: microphone capture and playback through AudioWorklets. */

/** Rates to try for the AudioContext, best first: 200 kHz where the browser allows it (Firefox stops at 192 kHz). */
export const STUDIO_RATES = [200_000, 192_000, 96_000, 48_000];
export const MOBILE_RATES = [48_000];

export interface JitterStats {
  sender: string;
  bufferedMs: number;
  targetMs: number;
  underruns: number;
  concealed: number;
  late: number;
}

export interface AudioEngineOptions {
  rates: number[];
  /** Echo cancellation, noise suppression and auto gain; off for studio quality. */
  processing: boolean;
  onFrame(pcm: Int16Array): void;
  onJitterStats(stats: JitterStats[]): void;
}

function makeContext(rates: number[]): AudioContext {
  for (const sampleRate of rates) {
    try {
      return new AudioContext({ sampleRate, latencyHint: 'interactive' });
    } catch {
      /* try the next rate */
    }
  }
  return new AudioContext({ latencyHint: 'interactive' });
}

export class AudioEngine {
  private stream?: MediaStream;
  private source?: MediaStreamAudioSourceNode;
  private constructor(
    readonly context: AudioContext,
    private readonly capture: AudioWorkletNode,
    private readonly playback: AudioWorkletNode,
    private readonly options: AudioEngineOptions,
  ) {}

  static async start(options: AudioEngineOptions): Promise<AudioEngine> {
    const context = makeContext(options.rates);
    await context.audioWorklet.addModule('capture-worklet.js');
    await context.audioWorklet.addModule('playback-worklet.js');
    const capture = new AudioWorkletNode(context, 'studioline-capture', { numberOfInputs: 1, numberOfOutputs: 0, channelCount: 1, channelCountMode: 'explicit' });
    const playback = new AudioWorkletNode(context, 'studioline-playback', { numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1] });
    capture.port.onmessage = (e) => options.onFrame(e.data as Int16Array);
    playback.port.onmessage = (e) => e.data.type === 'stats' && options.onJitterStats(e.data.senders);
    playback.connect(context.destination);
    const engine = new AudioEngine(context, capture, playback, options);
    await engine.openMicrophone(options.processing);
    await context.resume();
    return engine;
  }

  /** (Re)opens the microphone, with or without the browser's voice processing. */
  async openMicrophone(processing: boolean): Promise<void> {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing, channelCount: 1 },
    });
    this.source?.disconnect();
    this.stream?.getTracks().forEach((t) => t.stop());
    this.stream = stream;
    this.source = this.context.createMediaStreamSource(stream);
    this.source.connect(this.capture);
    this.options.processing = processing;
  }

  get sampleRate(): number {
    return this.context.sampleRate;
  }

  /** The device's own delay from the render call to the speaker, in ms. */
  get outputLatencyMs(): number {
    return ((this.context.baseLatency ?? 0) + (this.context.outputLatency ?? 0)) * 1000;
  }

  play(sender: string, ctr: number, samples: Float32Array): void {
    this.playback.port.postMessage({ type: 'frame', sender, ctr, samples }, [samples.buffer]);
  }

  forget(sender: string): void {
    this.playback.port.postMessage({ type: 'forget', sender });
  }

  async close(): Promise<void> {
    this.stream?.getTracks().forEach((t) => t.stop());
    await this.context.close();
  }
}

/** Linear resampling from a sender's rate to ours, keeping its phase from frame to frame. */
export class Resampler {
  private position = 0;
  private previous = 0;
  constructor(
    readonly from: number,
    readonly to: number,
  ) {}

  process(pcm: Int16Array): Float32Array {
    if (this.from === this.to) {
      const out = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) out[i] = pcm[i] / 32768;
      return out;
    }
    const step = this.from / this.to;
    const out: number[] = [];
    // position runs over [-1, pcm.length): -1 stands for the last sample of the previous frame.
    for (; this.position < pcm.length - 1; this.position += step) {
      const i = Math.floor(this.position);
      const frac = this.position - i;
      const a = i < 0 ? this.previous : pcm[i];
      const b = pcm[i + 1];
      out.push((a + (b - a) * frac) / 32768);
    }
    this.position -= pcm.length;
    this.previous = pcm[pcm.length - 1];
    return Float32Array.from(out);
  }
}
