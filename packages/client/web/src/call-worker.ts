/**
 * The call worker: the page's media path, off the main thread. Captured frames come straight from
 * the capture worklet and are sealed and sent here; received frames are opened, converted to the
 * context's rate and go straight to the playback worklet (media-messages.ts draws the path).
 *
 * Why a worker: measured with per-hop stamps, the audio threads ran like clockwork while frames
 * waited on the page's main thread (layout, the stats panel, a busy tab) for up to tens of
 * milliseconds, and the jitter buffers had to hold that much audio to ride it out.
 */
import { audioLevel } from '@studioline/protocol';
import { CallCore, FrameSink } from '../../src/call-core.js';
import type { CompactCodec } from '../../src/compact-codec.js';
import { Resampler, prepareResamplers } from '../../src/resampler.js';
import { TalkGate, TalkMode } from '../../src/talk-gate.js';
import { browserCall } from './call.js';
import { HANDOFF_SMOOTHING } from './latency.js';
import type { CapturedFrame, FromCallWorker, PlaybackMessage, ToCallWorker } from './media-messages.js';
import { CallRecording } from './recording.js';
import { webCodecsOpus } from './webcodecs-opus.js';

/** How often the page hears the figures and levels (its meters move at this rate). */
const REPORT_EVERY_MS = 100;

const scope = self as unknown as {
  postMessage(message: FromCallWorker): void;
  onmessage: ((e: MessageEvent<ToCallWorker>) => void) | null;
};
const report = (message: FromCallWorker) => scope.postMessage(message);
const toLevel = (dbov: number) => (127 - dbov) / 127;

/** The call, and the context's rate (what it sends, plays and records at). */
let call: { core: CallCore; sampleRate: number } | undefined;
/** Whether frames go out: hot, push-to-talk or listen-only, and mute (talk-gate.ts). Made with the call. */
let gate: TalkGate | undefined;
let talkMode: TalkMode = 'hot';
let recording: { session: CallRecording; stopSink: () => void } | undefined;
let captureHandoffMs = 0;
let captureFillMs = 0;
/** The last frame sent; its level is worked out only when the page is told (10 times a second, not 100). */
let lastSent: Int16Array | undefined;
const peerLevels = new Map<string, number>();

function start(msg: Extract<ToCallWorker, { type: 'start' }>, codec: CompactCodec | undefined): void {
  const { link, sampleRate, capture, playback } = msg;
  const core = browserCall(link, sampleRate, codec);
  report({ type: 'layers', layers: core.joinLayers, codec: codec?.name });
  call = { core, sampleRate };
  const talk = (gate = new TalkGate(talkMode, sampleRate));
  core.on('state', ({ state, detail }) => report({ type: 'state', state, detail }));
  core.on('peers', (peers) => report({ type: 'peers', peers }));
  core.on('receiving', ({ layer, reason }) => report({ type: 'receiving', layer, reason }));

  const toPlayback = (m: PlaybackMessage, transfer: Transferable[] = []) => playback.postMessage(m, transfer);
  const resamplers = new Map<string, Resampler>();
  const sink: FrameSink = {
    push({ sender, ctr, level, sampleRate: from, pcm }) {
      let r = resamplers.get(sender);
      if (!r || r.from !== from) {
        r?.close();
        resamplers.set(sender, (r = new Resampler(from, sampleRate)));
      }
      peerLevels.set(sender, toLevel(level));
      const samples = r.process(pcm);
      toPlayback({ type: 'frame', sender, ctr: Number(ctr), samples, level, at: Date.now() }, [samples.buffer]);
    },
    forget(sender) {
      toPlayback({ type: 'forget', sender });
      resamplers.get(sender)?.close();
      resamplers.delete(sender);
      peerLevels.delete(sender);
    },
  };
  core.addSink(sink);

  capture.onmessage = (e: MessageEvent<CapturedFrame>) => {
    const { pcm, at, fillWaitMs } = e.data;
    captureHandoffMs += (Date.now() - at - captureHandoffMs) * HANDOFF_SMOOTHING;
    captureFillMs += (fillWaitMs - captureFillMs) * HANDOFF_SMOOTHING;
    // Closed (muted, push-to-talk up, listen-only): nothing is sent; the frame clock moves on, as a pause.
    const frame = talk.process(pcm, Date.now());
    lastSent = frame;
    if (!frame) return core.pause();
    recording?.session.addLocal(frame);
    void core.send(frame);
  };

  const timer = setInterval(() => {
    const inputLevel = lastSent ? toLevel(audioLevel(lastSent)) : 0;
    report({ type: 'figures', figures: core.figures(), inputLevel, transmitting: talk.open, pttStartMs: talk.lastStartDelayMs, peerLevels: [...peerLevels], captureFillMs, captureHandoffMs });
  }, REPORT_EVERY_MS);
  core.on('ended', () => clearInterval(timer));
  // A refusal or a lost call reaches the page through the state events.
  core.start().catch(() => undefined);
}

async function setRecording(on: boolean): Promise<void> {
  if (on && !recording && call) {
    const session = new CallRecording(call.sampleRate);
    recording = { session, stopSink: call.core.addSink(session.recorder) };
  } else if (!on && recording) {
    const { session, stopSink } = recording;
    recording = undefined;
    stopSink();
    report({ type: 'recording', files: await session.files(), notRecorded: session.recorder.notRecorded });
  }
}

scope.onmessage = (e) => {
  const msg = e.data;
  const run = async () => {
    if (msg.type === 'start') {
      // Loaded before the first frame arrives, so a sender's first frames are converted at once.
      const [codec] = await Promise.all([webCodecsOpus(), prepareResamplers()]);
      if (!codec && msg.link.mobile) throw new Error('this browser has no Opus encoder (WebCodecs), which a mobile=1 call needs: open the link without mobile=1');
      start(msg, codec);
    } else if (msg.type === 'mute') gate?.setMuted(msg.muted);
    else if (msg.type === 'talkMode') {
      talkMode = msg.mode;
      gate?.setMode(msg.mode);
    } else if (msg.type === 'talk') {
      if (msg.down) gate?.press(msg.at);
      else gate?.release();
    }
    else if (msg.type === 'record') await setRecording(msg.on);
    else if (msg.type === 'stop') {
      await setRecording(false);
      call?.core.stop();
    }
  };
  run().catch((err: Error) => report({ type: 'failed', message: err.message }));
};
