/** The browser's audio: microphone capture and playback through AudioWorklets. */
import { prepareResamplers } from '../../src/resampler.js';

/** Converts a sender's rate to the context's on the main thread, before frames go to the playback worklet. */
export { Resampler } from '../../src/resampler.js';

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
    // Loaded before the first frame arrives, so a sender's first frames are converted at once.
    await prepareResamplers();
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
