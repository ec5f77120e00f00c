/**
 * Each peer's connection quality as this page hears it, over the last few seconds: of the frame
 * slots its jitter buffer played, how many had no frame in time (lost on the way, or too late:
 * concealed), how many frames came after their slot (late), and its arrival jitter. The figures are
 * the playback worklet's per-sender counts (jitter-buffer.ts), differenced over a sliding window,
 * so a bad spell shows while it lasts and clears after.
 */
import type { JitterStats } from './audio.js';

/** The window the figures cover (ms). */
export const QUALITY_WINDOW_MS = 5000;
/** At most this share of slots concealed is good; at most FAIR_MISSING fair; more is poor. */
export const GOOD_MISSING = 0.01;
export const FAIR_MISSING = 0.05;

export type QualityRating = 'good' | 'fair' | 'poor' | 'silent';

export interface PeerQuality {
  rating: QualityRating;
  /** Slots with no frame in time, and frames that came after their slot, as shares of the slots in the window. */
  missing: number;
  late: number;
  jitterMs: number;
}

interface Sample {
  at: number;
  played: number;
  concealed: number;
  late: number;
}

export class QualityMeter {
  private readonly history = new Map<string, Sample[]>();
  private readonly jitter = new Map<string, number>();

  /** The worklet's latest per-sender figures, at `now` (ms). Senders no longer reported are forgotten. */
  sample(now: number, stats: JitterStats[]): void {
    const seen = new Set<string>();
    for (const s of stats) {
      seen.add(s.sender);
      let h = this.history.get(s.sender);
      if (!h) this.history.set(s.sender, (h = []));
      h.push({ at: now, played: s.played, concealed: s.concealed, late: s.late });
      // Keep one sample at or before the window's start, so the window is whole.
      while (h.length > 2 && h[1].at <= now - QUALITY_WINDOW_MS) h.shift();
      this.jitter.set(s.sender, s.jitterMs);
    }
    for (const sender of this.history.keys()) {
      if (seen.has(sender)) continue;
      this.history.delete(sender);
      this.jitter.delete(sender);
    }
  }

  /** The quality of a peer heard as `senders` (one, or two while a line moves): their counts added up. */
  of(senders: string[]): PeerQuality {
    let slots = 0;
    let missing = 0;
    let late = 0;
    let jitterMs = 0;
    for (const sender of senders) {
      const h = this.history.get(sender);
      if (!h || h.length < 2) continue;
      const [first, last] = [h[0], h[h.length - 1]];
      const concealed = last.concealed - first.concealed;
      slots += last.played - first.played + concealed;
      missing += concealed;
      late += last.late - first.late;
      jitterMs = Math.max(jitterMs, this.jitter.get(sender) ?? 0);
    }
    if (slots === 0) return { rating: 'silent', missing: 0, late: 0, jitterMs };
    const share = missing / slots;
    const rating = share <= GOOD_MISSING ? 'good' : share <= FAIR_MISSING ? 'fair' : 'poor';
    return { rating, missing: share, late: late / slots, jitterMs };
  }
}

/** What a person reads: "good (0.0 % lost, 0.0 % late, jitter 2.1 ms)". */
export function describeQuality(q: PeerQuality): string {
  if (q.rating === 'silent') return 'no audio lately';
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  return `${q.rating} (${pct(q.missing)} lost, ${pct(q.late)} late, jitter ${q.jitterMs.toFixed(1)} ms)`;
}
