/**
 * The page's handle on the call worker (call-worker.ts): starts it with the worklets' media ports,
 * steers it (mute, record, leave), and passes on what it reports as typed events.
 */
import type { CallLink, JoinLayers, LayerChangeReason, LayerName } from '@studioline/protocol';
import type { CallState } from '../../src/call-core.js';
import type { TalkMode } from '../../src/talk-gate.js';
import { TypedEvents } from '../../src/typed-events.js';
import type { AudioEngine } from './audio.js';
import type { FromCallWorker, RecordingFile, ToCallWorker, WorkerFigures } from './media-messages.js';

export interface RemoteCallEvents {
  state: { state: CallState; detail: string };
  peers: string[];
  layers: { layers: JoinLayers; codec?: string };
  receiving: { layer: LayerName; reason?: LayerChangeReason };
  figures: WorkerFigures;
  recording: { files: RecordingFile[]; notRecorded: number };
  /** The worker could not load or run: the call cannot go on. */
  failed: string;
}

export class RemoteCall extends TypedEvents<RemoteCallEvents> {
  private readonly worker = new Worker('call-worker.js');
  /** The worker's latest report; undefined until its first. */
  latest?: WorkerFigures;

  constructor() {
    super();
    this.worker.onmessage = (e: MessageEvent<FromCallWorker>) => {
      const msg = e.data;
      if (msg.type === 'state') this.emit('state', { state: msg.state, detail: msg.detail });
      else if (msg.type === 'peers') this.emit('peers', msg.peers);
      else if (msg.type === 'layers') this.emit('layers', { layers: msg.layers, codec: msg.codec });
      else if (msg.type === 'receiving') this.emit('receiving', { layer: msg.layer, reason: msg.reason });
      else if (msg.type === 'figures') {
        const { type: _, ...figures } = msg;
        this.emit('figures', (this.latest = figures));
      } else if (msg.type === 'recording') this.emit('recording', { files: msg.files, notRecorded: msg.notRecorded });
      else if (msg.type === 'failed') this.emit('failed', msg.message);
    };
    this.worker.onerror = (e) => this.emit('failed', e.message || 'the call worker could not start');
  }

  /** Joins the line, sending what `engine` captures and playing what arrives through it. */
  start(link: CallLink, engine: AudioEngine): void {
    const { capture, playback } = engine.mediaPorts();
    this.send({ type: 'start', link, sampleRate: engine.sampleRate, capture, playback }, [capture, playback]);
  }

  mute(muted: boolean): void {
    this.send({ type: 'mute', muted });
  }

  /** Hot mic, push-to-talk or listen-only (talk-gate.ts). */
  talkMode(mode: TalkMode): void {
    this.send({ type: 'talkMode', mode });
  }

  /** The push-to-talk key or button went down (at `at`, Date.now()) or up. */
  talk(down: boolean, at = Date.now()): void {
    this.send({ type: 'talk', down, at });
  }

  /** Starts or stops recording; a stopped recording's files come as a `recording` event. */
  record(on: boolean): void {
    this.send({ type: 'record', on });
  }

  /** Leaves the line; a recording in progress is finished first (its files still come). */
  stop(): void {
    this.send({ type: 'stop' });
  }

  private send(message: ToCallWorker, transfer: Transferable[] = []): void {
    this.worker.postMessage(message, transfer);
  }
}
