/**
 * End-to-end encryption of a call, shared by the web client and the Node peer: a sender seals its
 * audio frames into wire frames; a receiver opens the wire frames of every other sender, deriving
 * each sender's key from the leaf on first sight, and drops replays and forgeries.
 *
 * Each layer of a sender is its own SFrame stream: its own KID (layer and sender id, wire-frame.ts),
 * so its own base key, counter and replay window.
 */
import { deriveSenderBaseKey } from './keys.js';
import { ReplayWindow } from './replay-window.js';
import { CipherSuite, SFrameContext, STUDIOLINE_SUITE, decodeHeader } from './sframe.js';
import { LAYER_COUNT, LAYER_FULL, LEVEL_BITS, MIN_WIRE_FRAME_BYTES, SPURT_START_BIT, kidLayer, kidSenderId, layerKid } from './wire-frame.js';

export class FrameSealer {
  private ctr = 0n;
  private constructor(
    private readonly ctx: SFrameContext,
    readonly senderId: bigint,
    readonly layer: number,
  ) {}

  /** A sealer for one layer of one sender (default the full layer, whose KID is the sender id). */
  static async create(leaf: Uint8Array, senderId: bigint, layer = LAYER_FULL, suite: CipherSuite = STUDIOLINE_SUITE): Promise<FrameSealer> {
    const kid = layerKid(senderId, layer);
    return new FrameSealer(await SFrameContext.create(suite, kid, await deriveSenderBaseKey(leaf, kid)), senderId, layer);
  }

  /**
   * The same stream under another key (a new epoch, membership-keys.ts): same KID, and the counter
   * goes on where this one is, so receivers' loss counts and replay windows see one stream.
   */
  async rekeyed(secret: Uint8Array, suite: CipherSuite = STUDIOLINE_SUITE): Promise<FrameSealer> {
    const next = new FrameSealer(await SFrameContext.create(suite, this.kid, await deriveSenderBaseKey(secret, this.kid)), this.senderId, this.layer);
    next.ctr = this.ctr;
    return next;
  }

  /** Goes on from `previous`'s counter (a sealer made ahead of a switch, while `previous` kept sealing). */
  continueAfter(previous: FrameSealer): void {
    if (previous.ctr > this.ctr) this.ctr = previous.ctr;
  }

  /** The SFrame KID: the sender id on the full layer. */
  get kid(): bigint {
    return this.ctx.kid;
  }

  /** The next counter (frames sealed so far, when no counter was skipped). */
  get sealed(): bigint {
    return this.ctr;
  }

  /**
   * Encrypts one audio frame into a wire frame: [level][SFrame], under the next counter, or under
   * `ctr` when given: a sender's layers number their frames by one clock, the capture frame they
   * carry, so a receiver switched from one layer to the other finds its place (counters a layer
   * skips, a frame not sent on it, are never used). A counter is never used twice (it is half the
   * nonce): one below the next throws.
   */
  async seal(level: number, plaintext: Uint8Array, ctr: bigint = this.ctr, spurtStart = false): Promise<Uint8Array> {
    if (ctr < this.ctr) throw new RangeError(`SFrame counter ${ctr} was used already (next is ${this.ctr})`);
    const levelByte = Uint8Array.of((level & LEVEL_BITS) | (spurtStart ? SPURT_START_BIT : 0));
    this.ctr = ctr + 1n;
    return this.ctx.encrypt(ctr, plaintext, levelByte, levelByte);
  }
}

export type OpenFailure = 'malformed' | 'replayed' | 'decrypt_failed';

export interface OpenedFrame {
  /** The sender (the KID without its layer). */
  senderId: bigint;
  layer: number;
  kid: bigint;
  ctr: bigint;
  level: number;
  /** The first frame of a talk spurt: the counters before it that never came were not sent (wire-frame.ts). */
  spurtStart: boolean;
  plaintext: Uint8Array;
}

export interface OpenerStats {
  received: number;
  malformed: number;
  replayed: number;
  decryptFailed: number;
}

interface SenderState {
  ctx: SFrameContext;
  window: ReplayWindow;
}

/** Most streams (sender and layer) whose keys a receiver keeps at once; the oldest is forgotten beyond this. */
const MAX_SENDERS = 64 * LAYER_COUNT;

export class FrameOpener {
  readonly stats: OpenerStats = { received: 0, malformed: 0, replayed: 0, decryptFailed: 0 };
  private readonly senders = new Map<bigint, Promise<SenderState>>();

  /**
   * @param acceptsLayer the KID layers this opener takes (default the audio layers); the
   *   membership opener takes only the control stream (membership-wire.ts)
   */
  constructor(
    private readonly leaf: Uint8Array,
    private readonly suite: CipherSuite = STUDIOLINE_SUITE,
    private readonly acceptsLayer: (layer: number) => boolean = (layer) => layer < LAYER_COUNT,
  ) {}

  private sender(kid: bigint): Promise<SenderState> {
    let state = this.senders.get(kid);
    if (!state) {
      state = deriveSenderBaseKey(this.leaf, kid)
        .then((base) => SFrameContext.create(this.suite, kid, base))
        .then((ctx) => ({ ctx, window: new ReplayWindow() }));
      this.senders.set(kid, state);
      if (this.senders.size > MAX_SENDERS) this.senders.delete(this.senders.keys().next().value as bigint);
    }
    return state;
  }

  /** Opens a wire frame; returns the reason instead when it must be dropped (and counts it). */
  async open(wire: Uint8Array): Promise<OpenedFrame | OpenFailure> {
    const header = wire.length > 1 ? decodeHeader(wire, 1) : undefined;
    if (wire.length < MIN_WIRE_FRAME_BYTES || !header || !this.acceptsLayer(kidLayer(header.kid))) {
      this.stats.malformed++;
      return 'malformed';
    }
    const state = await this.sender(header.kid);
    if (!state.window.mayAccept(header.ctr)) {
      this.stats.replayed++;
      return 'replayed';
    }
    const level = wire[0] & LEVEL_BITS;
    const spurtStart = (wire[0] & SPURT_START_BIT) !== 0;
    const plaintext = await state.ctx.decrypt(wire.subarray(1), header, wire.subarray(0, 1));
    if (!plaintext) {
      this.stats.decryptFailed++;
      return 'decrypt_failed';
    }
    // Checked again: another copy of this frame may have finished decrypting meanwhile.
    if (!state.window.mayAccept(header.ctr)) {
      this.stats.replayed++;
      return 'replayed';
    }
    state.window.markSeen(header.ctr);
    this.stats.received++;
    return { senderId: kidSenderId(header.kid), layer: kidLayer(header.kid), kid: header.kid, ctr: header.ctr, level, spurtStart, plaintext };
  }

  /** Derives a sender's keys, every layer, ahead of its first frame (they are derived once, on first need, otherwise). */
  warm(senderId: bigint): void {
    for (let layer = 0; layer < LAYER_COUNT; layer++) void this.sender(layerKid(senderId, layer));
  }

  /** Forgets a sender, every layer of it (it left the line). */
  forget(senderId: bigint): void {
    for (let layer = 0; layer < LAYER_COUNT; layer++) this.senders.delete(layerKid(senderId, layer));
  }
}

