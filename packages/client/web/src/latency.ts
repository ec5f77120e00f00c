/**
 * The latency the page shows: what a click takes from the capture worklet on one side to the
 * playback worklet on the other, computed from what the page can know, every part measured in
 * wall-clock time. bench/latency.mjs measures the same span between two real pages and checks
 * the two agree within 5 ms. The sender's side is the peer's; we take it to be like our own.
 *
 *   the capture fill: how long a sample waits for its 10 ms frame to fill (about 5 ms when the
 *   device calls the worklet a quantum at a time; near 0 when it calls in 10 ms bursts, as frames
 *   end with a burst)
 * + the capture hand-off: capture worklet to call worker
 * + the network, both hops: our own round trip to the gateway (we cannot see the peer's link; on a
 *   LAN both are alike, and sender -> gateway -> receiver is about one round trip)
 * + the servers' own share: from the gateway a frame entered, through the bus and the relay, to
 *   ours (our gateway reports it in each pong; about 0 in one process, 1-2 ms through Redis)
 * + the playback hand-off: call worker to playback worklet (frames wait for the audio thread)
 * + the playout: from a frame's arrival in the worklet to the render call that plays each of its
 *   samples (the jitter buffer's residence, the wait for the device's next callback, and how far
 *   into the frame the sample is)
 *
 * The device's own delays (the context's baseLatency and outputLatency, and the microphone's input
 * delay, which the browser does not report) come on top; the page shows the output part beside it.
 */
import type { JitterStats } from './audio.js';

/** Smoothing of the measured hand-off times (an exponential average over about the last second of frames). */
export const HANDOFF_SMOOTHING = 0.01;

/** What the page knows about its own audio path (the AudioEngine). */
export interface LocalAudio {
  captureFillMs: number;
  captureHandoffMs: number;
  deviceLatency: { baseMs: number; outputMs: number };
}

/** What the call measured of the way between the pages (CallFigures' rttMs and serverMs). */
export interface Network {
  rttMs?: number;
  serverMs?: number;
}

/** The capture-to-playback estimate for the slowest sender, ms; undefined until there is a round trip and a sender. */
export function captureToPlaybackMs(jitter: JitterStats[], network: Network, local: LocalAudio): number | undefined {
  if (network.rttMs === undefined || jitter.length === 0) return undefined;
  return local.captureFillMs + local.captureHandoffMs + network.rttMs + (network.serverMs ?? 0) + Math.max(...jitter.map((j) => j.handoffMs + j.playoutMs));
}

/** The two lines of the stats panel this module owns: the jitter buffer and mouth to ear. */
export function latencyLines(jitter: JitterStats[], network: Network, local: LocalAudio): { jitter: string; latency: string } {
  const worst = jitter.length ? jitter.reduce((a, b) => (b.residenceMs > a.residenceMs ? b : a)) : undefined;
  const estimate = captureToPlaybackMs(jitter, network, local);
  const deviceMs = local.deviceLatency.baseMs + local.deviceLatency.outputMs;
  return {
    jitter: worst ? `${worst.residenceMs.toFixed(0)} ms (target ${worst.targetMs.toFixed(0)} ms)` : '–',
    latency: estimate === undefined ? '–' : `${estimate.toFixed(0)} ms + device output ${deviceMs.toFixed(0)} ms`,
  };
}
