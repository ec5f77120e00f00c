/**
 * The browser's audio: microphone capture and playback through AudioWorklets. The audio itself
 * does not pass through here: the worklets exchange frames with the call worker over the ports
 * that `mediaPorts()` hands out (media-messages.ts).
 */
import type { JitterBufferStats } from '../../src/jitter-buffer.js';
import type { WorkletControl } from './media-messages.js';

/** Rates to try for the AudioContext, best first: 200 kHz where the browser allows it (Firefox stops at 192 kHz). */
export const STUDIO_RATES = [200_000, 192_000, 96_000, 48_000];
export const MOBILE_RATES = [48_000];

/** One sender's jitter buffer, as the playback worklet reports it (see jitter-buffer.ts). */
export type JitterStats = JitterBufferStats & {
  sender: string;
  /** How long its frames take from the call worker to the playback worklet, ms (smoothed). */
  handoffMs: number;
  /** How long its samples wait from their frame's arrival in the worklet to being rendered (wall clock), ms (smoothed). */
  playoutMs: number;
};

/** Click times (wall clock, ms) seen by the latency benchmark's probe: captured here, played from each sender. */
export interface ClickLog {
  captured: number[];
  played: { sender: string; at: number }[];
}

export interface AudioEngineOptions {
  rates: number[];
  /** Echo cancellation, noise suppression and auto gain; off for studio quality. */
  processing: boolean;
  /** The microphone chosen in an earlier visit (devices.ts); the default when absent or gone. */
  inputDevice?: string;
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
  /** The microphone chosen in the page (devices.ts); undefined: the browser's default. */
  private deviceId?: string;
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
    const engine = new AudioEngine(context, capture, playback, options);
    capture.port.onmessage = (e) => {
      if (e.data.type === 'click') engine.clicks?.captured.push(e.data.at);
    };
    playback.port.onmessage = (e) => {
      if (e.data.type === 'stats') options.onJitterStats(e.data.senders);
      else if (e.data.type === 'click') engine.clicks?.played.push({ sender: e.data.sender, at: e.data.at });
    };
    playback.connect(context.destination);
    // The latency benchmark drives the page from outside and finds the engine here.
    (globalThis as { studiolineAudio?: AudioEngine }).studiolineAudio = engine;
    await engine.openMicrophone(options.processing, options.inputDevice);
    await context.resume();
    return engine;
  }

  /** (Re)opens the microphone (the chosen device, else the last one, else the default), with or without the browser's voice processing. */
  async openMicrophone(processing: boolean, deviceId = this.deviceId): Promise<void> {
    const constraints = (id?: string) => ({ audio: { echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing, channelCount: 1, ...(id ? { deviceId: { exact: id } } : {}) } });
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(constraints(deviceId));
    } catch (err) {
      // A remembered device that is gone (unplugged): the default one, rather than no call.
      if (!deviceId || !['OverconstrainedError', 'NotFoundError'].includes((err as Error).name)) throw err;
      deviceId = undefined;
      stream = await navigator.mediaDevices.getUserMedia(constraints());
    }
    this.deviceId = deviceId;
    this.source?.disconnect();
    this.stream?.getTracks().forEach((t) => t.stop());
    this.stream = stream;
    this.source = this.context.createMediaStreamSource(stream);
    this.source.connect(this.capture);
    this.options.processing = processing;
  }

  /**
   * New ports for the call worker: captured frames arrive on `capture`, frames to play go into
   * `playback`. The worklets get the other ends (and drop the ports they had).
   */
  mediaPorts(): { capture: MessagePort; playback: MessagePort } {
    const capture = new MessageChannel();
    const playback = new MessageChannel();
    this.control(this.capture, { type: 'media-port', port: capture.port2 }, [capture.port2]);
    this.control(this.playback, { type: 'media-port', port: playback.port2 }, [playback.port2]);
    return { capture: capture.port1, playback: playback.port1 };
  }

  private control(node: AudioWorkletNode, message: WorkletControl, transfer: Transferable[] = []): void {
    node.port.postMessage(message, transfer);
  }

  /** Click times seen by the latency benchmark's probe, once `probeClicks()` has turned it on. */
  clicks?: ClickLog;

  /** Test hook for bench/latency.mjs: both worklets report each click they see or play. */
  probeClicks(on = true): void {
    this.clicks = on ? { captured: [], played: [] } : undefined;
    this.control(this.capture, { type: 'probe', on });
    this.control(this.playback, { type: 'probe', on });
  }

  /** What the context reports now: its own processing delay and the device's output delay, ms. */
  get deviceLatency(): { baseMs: number; outputMs: number } {
    return { baseMs: (this.context.baseLatency ?? 0) * 1000, outputMs: (this.context.outputLatency ?? 0) * 1000 };
  }

  get sampleRate(): number {
    return this.context.sampleRate;
  }

  async close(): Promise<void> {
    this.stream?.getTracks().forEach((t) => t.stop());
    await this.context.close();
  }
}
