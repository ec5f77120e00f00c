/**
 * The messages of the page's media path, in one place. Audio never crosses the page's main thread:
 *
 *   capture worklet --(MessagePort)--> call worker --(websocket)--> gateway
 *   gateway --(websocket)--> call worker --(MessagePort)--> playback worklet
 *
 * The page's main thread (layout, the stats panel, whatever else the tab runs) only starts and
 * steers the call worker and shows what it reports.
 */
import type { CallLink, JoinLayers, LayerChangeReason, LayerName } from '@studioline/protocol';
import type { CallState } from '../../src/call-core.js';
import type { TalkMode } from '../../src/talk-gate.js';
import type { CallFigures } from '../../src/call-stats.js';

/** Capture worklet -> call worker: one 10 ms frame of 16-bit PCM, stamped (wall clock) as it left the worklet. */
export interface CapturedFrame {
  type: 'frame';
  pcm: Int16Array;
  at: number;
  /** How long its samples waited, on average, for the frame to fill, ms. */
  fillWaitMs: number;
}

/** Call worker -> playback worklet: a sender's frame at the context's rate, stamped as it left the worker. */
export type PlaybackMessage =
  | { type: 'frame'; sender: string; ctr: number; samples: Float32Array; level: number; at: number }
  | { type: 'forget'; sender: string };

/** Either worklet's own port: gives it the media port, or turns the latency benchmark's click probe on or off. */
export type WorkletControl = { type: 'media-port'; port: MessagePort } | { type: 'probe'; on: boolean };

/** Page -> call worker. */
export type ToCallWorker =
  | {
      type: 'start';
      link: CallLink;
      /** The AudioContext's rate: what the page sends at, and what it plays at. */
      sampleRate: number;
      /** Ports whose other ends the capture and playback worklets hold. */
      capture: MessagePort;
      playback: MessagePort;
    }
  | { type: 'mute'; muted: boolean }
  /** How this page transmits (talk-gate.ts), and its push-to-talk key or button going down (`at`: Date.now() when it did) or up. */
  | { type: 'talkMode'; mode: TalkMode }
  | { type: 'talk'; down: boolean; at: number }
  | { type: 'record'; on: boolean }
  | { type: 'stop' };

/** A finished recording's file, as the page offers it for download. */
export interface RecordingFile {
  /** What a person reads: "Mix", "You", "Peer 1a2b3c (48 kHz)". */
  label: string;
  name: string;
  blob: Blob;
}

/** What the call worker reports to the page, several times a second. */
export interface WorkerFigures {
  figures: CallFigures;
  /** This page's microphone, 0 (silent or muted) to 1 (full scale). */
  inputLevel: number;
  /** Whether it transmits now, and the last push-to-talk start: key down to its first frame sent, ms. */
  transmitting: boolean;
  pttStartMs?: number;
  /** Each sender's level in the last frame heard, 0 to 1. */
  peerLevels: [string, number][];
  /** How long captured samples wait for their frame to fill, ms (smoothed). */
  captureFillMs: number;
  /** How long captured frames take from the capture worklet to the worker, ms (smoothed). */
  captureHandoffMs: number;
}

/** Call worker -> page. */
export type FromCallWorker =
  | { type: 'state'; state: CallState; detail: string }
  | { type: 'peers'; peers: string[] }
  /** The layers this page sends and receives, and the compact layer's codec (none: the browser has no Opus in WebCodecs). */
  | { type: 'layers'; layers: JoinLayers; codec?: string }
  /** The best layer the gateway sends this page now, and why it changed (absent: the session's start). */
  | { type: 'receiving'; layer: LayerName; reason?: LayerChangeReason }
  | ({ type: 'figures' } & WorkerFigures)
  | { type: 'recording'; files: RecordingFile[]; notRecorded: number }
  /** The worker itself failed (not the call): the page shows it. */
  | { type: 'failed'; message: string };
