/**
 * The call's figures: exact counts (frames and bytes each way, losses, drops by reason), and
 * bitrates computed from those counts over a measured window. Counts are what tests compare with
 * the other side's counts; rates are only ever derived from counts and elapsed time.
 */
import type { ErrorCode } from '@studioline/protocol';
import { RATE_WINDOW_MS } from './call-constants.js';

export interface CallFigures {
  /** Frames and bytes of wire frames sent, every layer (what the gateway counts in). */
  framesSent: number;
  bytesSent: number;
  /** Frames opened and decoded, every layer; bytes of every binary message that arrived, good or bad. */
  framesReceived: number;
  bytesReceived: number;
  /** Of those sent and received, the compact layer's (Opus). */
  compactFramesSent: number;
  compactBytesSent: number;
  compactFramesReceived: number;
  /**
   * Compact frames that never arrived but were played all the same: rebuilt from the next packet's
   * in-band FEC, or concealed by the decoder (a codec that can; the page's jitter buffer conceals
   * the others). Not taken off `lost`, which counts what the network lost.
   */
  fecRecovered: number;
  plcConcealed: number;
  /** Errors of the compact codec (a frame it could not encode or decode). */
  codecErrors: number;
  /** Frames not sent because the call was not joined (connecting, reconnecting). */
  unsentDisconnected: number;
  /** Frames skipped because the socket still held {@link SEND_BUFFER_LIMIT_BYTES} unsent. */
  unsentBackpressure: number;
  /** Frames missing between the first and the last counter heard from each sender. */
  lost: number;
  /** The longest run of one sender's frames missing (a hole in what this peer heard), in frames. */
  longestGap: number;
  replayed: number;
  decryptFailed: number;
  /** Wire frames or audio frames that did not parse. */
  malformed: number;
  /** Membership messages sent and opened (issue 14, membership-wire.ts). */
  controlSent: number;
  controlReceived: number;
  /** Joins after the first (each with a new sender id). */
  reconnects: number;
  /** Times the gateway changed the layer it sends this peer (a step down on a troubled link, or back up). */
  layerSwitches: number;
  /** Warnings the gateway sent without closing (over_budget, malformed_frame). */
  warnings: Partial<Record<ErrorCode, number>>;
  /** The last ping's round trip, in ms. */
  rttMs?: number;
  /** What the servers add between the gateways (bus and relay) to frames on their way here, ms (the gateway's last report). */
  serverMs?: number;
}

export function emptyFigures(): CallFigures {
  return { framesSent: 0, bytesSent: 0, framesReceived: 0, bytesReceived: 0, compactFramesSent: 0, compactBytesSent: 0, compactFramesReceived: 0, fecRecovered: 0, plcConcealed: 0, codecErrors: 0, unsentDisconnected: 0, unsentBackpressure: 0, lost: 0, longestGap: 0, replayed: 0, decryptFailed: 0, malformed: 0, reconnects: 0, layerSwitches: 0, controlSent: 0, controlReceived: 0, warnings: {} };
}

interface SenderSpan {
  first: bigint;
  last: bigint;
  heard: number;
  /** Counters its sender paused over (before a talk spurt's start): never sent, so not lost. */
  paused: number;
  /** The counters heard lately, so a frame that came on two layers counts once. */
  recent: Set<bigint>;
}

/** Counters further than this behind the newest are no longer told apart (a frame that late is history). */
const RECENT_FRAMES = 512n;

/**
 * Losses by counter: for each sender, the frames between the first and last counter heard that
 * never arrived. A sender's layers share one counter (the capture frame, call-core.ts), so a
 * receiver switched between layers sees one stream; a frame heard on both layers around a switch
 * counts once. Frames arriving out of order are not lost, and nor are the counters a sender paused
 * over (push-to-talk up, muted: the frame after the pause is marked as a talk spurt's start).
 */
export class LossCounter {
  private readonly spans = new Map<bigint, SenderSpan>();
  /** Losses of senders already forgotten. */
  private settled = 0;
  /** The longest run of one sender's counters skipped by a frame that came after them (frames). */
  longestGap = 0;

  /** Frame `ctr` of `sender` arrived; `spurtStart`: its sender paused just before it (wire-frame.ts). */
  heard(sender: bigint, ctr: bigint, spurtStart = false): void {
    const s = this.spans.get(sender);
    if (!s) return void this.spans.set(sender, { first: ctr, last: ctr, heard: 1, paused: 0, recent: new Set([ctr]) });
    if (s.recent.has(ctr)) return;
    if (ctr < s.first) s.first = ctr;
    if (ctr > s.last) {
      const gap = Number(ctr - s.last - 1n);
      if (spurtStart) s.paused += gap;
      else this.longestGap = Math.max(this.longestGap, gap);
      s.last = ctr;
    }
    s.heard++;
    s.recent.add(ctr);
    // Oldest first (counters mostly come in order): drop from the front until one is recent.
    for (const old of s.recent) {
      if (old >= s.last - RECENT_FRAMES) break;
      s.recent.delete(old);
    }
  }

  /** A sender left: keep its losses, drop its state. */
  forget(sender: bigint): void {
    const s = this.spans.get(sender);
    if (!s) return;
    this.settled += spanLost(s);
    this.spans.delete(sender);
  }

  get lost(): number {
    let lost = this.settled;
    for (const s of this.spans.values()) lost += spanLost(s);
    return lost;
  }
}

function spanLost(s: SenderSpan): number {
  return Math.max(0, Number(s.last - s.first + 1n) - s.heard - s.paused);
}

/**
 * A bitrate over a sliding window, from a running byte count sampled at measured times: the rate
 * is (bytes counted between the oldest and newest sample in the window) * 8 / (their time apart).
 * A late sample (a busy machine) changes nothing but the window's length, so the rate stays true.
 */
export class RateMeter {
  private readonly samples: { at: number; total: number }[] = [];

  constructor(readonly windowMs = RATE_WINDOW_MS) {}

  /** Records the running total `total` (bytes) at time `at` (ms). */
  sample(at: number, total: number): void {
    this.samples.push({ at, total });
    // Keep the newest sample that is at least a window old, so the window is always covered.
    while (this.samples.length > 2 && at - this.samples[1].at >= this.windowMs) this.samples.shift();
  }

  /** Bits per second over the window, or undefined before two samples some time apart. */
  get bitsPerSecond(): number | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || last.at <= first.at) return undefined;
    return ((last.total - first.total) * 8 * 1000) / (last.at - first.at);
  }
}

/** Sending and receiving bitrates of a call, sampled from its figures. */
export class CallRates {
  readonly sent: RateMeter;
  readonly received: RateMeter;

  constructor(windowMs = RATE_WINDOW_MS) {
    this.sent = new RateMeter(windowMs);
    this.received = new RateMeter(windowMs);
  }

  sample(at: number, figures: Pick<CallFigures, 'bytesSent' | 'bytesReceived'>): void {
    this.sent.sample(at, figures.bytesSent);
    this.received.sample(at, figures.bytesReceived);
  }
}

/** A bitrate for a person: "3.20 Mbit/s", or "–" when not known yet. */
export function formatBitrate(bitsPerSecond: number | undefined): string {
  return bitsPerSecond === undefined ? '–' : `${(bitsPerSecond / 1e6).toFixed(2)} Mbit/s`;
}
