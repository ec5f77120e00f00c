/**
 * Playback with an adaptive jitter buffer per sender. Frames arrive (already at the context's rate)
 * tagged with their counter; each sender's buffer starts playing once `target` frames are queued.
 * The target grows by a frame on every underrun (the network is jittery) and shrinks by a frame
 * when the buffer never ran below two frames for two seconds (the network is calm), dropping one
 * frame to cut the delay. A frame missing while later ones are queued is concealed by repeating
 * the last frame at half level; frames that arrive after their turn are dropped as late.
 */
interface SenderBuffer {
  frames: Map<number, Float32Array>;
  next: number;
  current?: Float32Array;
  offset: number;
  playing: boolean;
  target: number;
  last?: Float32Array;
  minDepth: number;
  windowStart: number;
  underruns: number;
  concealed: number;
  late: number;
}

const MIN_TARGET = 2;
const MAX_TARGET = 20;
const CALM_WINDOW_S = 2;

class PlaybackProcessor extends AudioWorkletProcessor {
  private readonly senders = new Map<string, SenderBuffer>();
  private lastReport = 0;

  constructor() {
    super();
    this.port.onmessage = (e: MessageEvent) => {
      const msg = e.data as { type: 'frame'; sender: string; ctr: number; samples: Float32Array } | { type: 'forget'; sender: string };
      if (msg.type === 'forget') return void this.senders.delete(msg.sender);
      let s = this.senders.get(msg.sender);
      if (!s) {
        s = { frames: new Map(), next: msg.ctr, offset: 0, playing: false, target: 3, minDepth: Infinity, windowStart: currentTime, underruns: 0, concealed: 0, late: 0 };
        this.senders.set(msg.sender, s);
      }
      if (msg.ctr < s.next || s.frames.size > 200) s.late++;
      else s.frames.set(msg.ctr, msg.samples);
    };
  }

  private depth(s: SenderBuffer): number {
    return s.frames.size;
  }

  /** The next frame to play, or undefined on underrun. */
  private take(s: SenderBuffer): Float32Array | undefined {
    const frame = s.frames.get(s.next);
    if (frame) {
      s.frames.delete(s.next++);
      return frame;
    }
    if (s.frames.size === 0) return undefined;
    // A later frame is here, this one is lost: conceal it.
    s.next++;
    s.concealed++;
    const last = s.last ?? new Float32Array(128);
    return last.map((v) => v * 0.5);
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const out = outputs[0][0];
    out.fill(0);
    for (const s of this.senders.values()) {
      if (!s.playing) {
        if (this.depth(s) < s.target) continue;
        s.playing = true;
        s.windowStart = currentTime;
        s.minDepth = Infinity;
      }
      for (let i = 0; i < out.length; ) {
        if (!s.current || s.offset >= s.current.length) {
          s.current = this.take(s);
          s.offset = 0;
          if (!s.current) {
            s.playing = false;
            s.underruns++;
            s.target = Math.min(MAX_TARGET, s.target + 1);
            break;
          }
          s.last = s.current;
          s.minDepth = Math.min(s.minDepth, this.depth(s));
        }
        const n = Math.min(out.length - i, s.current.length - s.offset);
        for (let k = 0; k < n; k++) out[i + k] += s.current[s.offset + k];
        i += n;
        s.offset += n;
      }
      if (s.playing && currentTime - s.windowStart > CALM_WINDOW_S) {
        if (s.minDepth >= 2 && s.target > MIN_TARGET) {
          s.target--;
          const drop = s.frames.get(s.next);
          if (drop) s.frames.delete(s.next++);
        }
        s.windowStart = currentTime;
        s.minDepth = Infinity;
      }
    }
    for (let i = 0; i < out.length; i++) out[i] = Math.max(-1, Math.min(1, out[i]));
    if (currentTime - this.lastReport > 0.25) {
      this.lastReport = currentTime;
      const frameMs = 10;
      this.port.postMessage({
        type: 'stats',
        senders: [...this.senders].map(([sender, s]) => ({
          sender,
          bufferedMs: this.depth(s) * frameMs + (s.current ? ((s.current.length - s.offset) / sampleRate) * 1000 : 0),
          targetMs: s.target * frameMs,
          underruns: s.underruns,
          concealed: s.concealed,
          late: s.late,
        })),
      });
    }
    return true;
  }
}
registerProcessor('studioline-playback', PlaybackProcessor);
