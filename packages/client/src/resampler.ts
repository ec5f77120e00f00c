/**
 * Sample-rate conversion with anti-aliasing: libsamplerate (BSD-2-Clause, Erik de Castro Lopo's
 * band-limited sinc converter) as packaged by `@alexanderolsen/libsamplerate-js` (MIT), which
 * Emscripten compiled to plain JavaScript (wasm2js): the same code runs in Node and in the page's
 * esbuild bundle, and the page's Content-Security-Policy needs no 'wasm-unsafe-eval'.
 *
 * The wrapper creates a converter asynchronously (its API returns a promise, and a converter takes
 * 15-100 ms to set up), but audio arrives frame by frame on a synchronous path. So converters are
 * loaded ahead into a small spare pool: `await prepareResamplers()` once, then
 * `new Resampler(from, to)` is synchronous and the pool refills itself in the background. Should
 * the pool run dry (many senders joining at once), the new resampler holds its input until its
 * converter has loaded and then returns the held audio in one piece: nothing is lost.
 */
import { ConverterType, create } from '@alexanderolsen/libsamplerate-js';

type Converter = Awaited<ReturnType<typeof create>>;

/**
 * libsamplerate's fastest band-limited sinc: 97 dB signal-to-noise, passband to 80 % of the lower
 * Nyquist frequency (19.2 kHz at 48 kHz; far above hearing at 96 kHz and up), about 1.5 ms of CPU
 * per 10 ms frame at 200 -> 48 kHz. MEDIUM (90 %) costs 1.8x that, BEST (97 %) 5.5x.
 */
export const RESAMPLER_QUALITY = ConverterType.SRC_SINC_FASTEST;

/** The wrapper refuses rates above 192 kHz at creation (libsamplerate itself does not); see `load`. */
const WRAPPER_MAX_RATE = 192_000;
/** libsamplerate's own limit on the conversion ratio, either way. */
const MAX_RATIO = 256;
/** Spare converters kept loaded so a new sender's resampler starts at once. */
const SPARE_CONVERTERS = 2;

export class ResamplerError extends Error {
  readonly code = 'bad_sample_rate';
}

function checkRates(from: number, to: number): void {
  for (const rate of [from, to]) {
    if (!Number.isInteger(rate) || rate <= 0) throw new ResamplerError(`sample rate ${rate} is not a positive whole number of Hz`);
  }
  if (from / to > MAX_RATIO || to / from > MAX_RATIO) throw new ResamplerError(`cannot convert ${from} Hz to ${to} Hz: the ratio is over ${MAX_RATIO}`);
}

async function load(): Promise<Converter> {
  // Created at rates the wrapper accepts, then set to the real ones by `configure`.
  return create(1, 48_000, 48_000, { converterType: RESAMPLER_QUALITY });
}

function configure(converter: Converter, from: number, to: number): void {
  // The setters re-initialise libsamplerate's state synchronously, without the wrapper's 192 kHz
  // check; `ratio` (used only to size the output) is kept in step by hand.
  converter.inputSampleRate = from;
  converter.outputSampleRate = to;
  converter.ratio = to / from;
}

const spares: Converter[] = [];
let refilling: Promise<void> | undefined;

function refill(): Promise<void> {
  // A full pool needs no load. (Without this return, the loader below would finish synchronously,
  // run its `finally` before being stored, and leave a settled promise in `refilling` for good:
  // no refill would ever load again.)
  if (!refilling && spares.length >= SPARE_CONVERTERS) return Promise.resolve();
  refilling ??= (async () => {
    try {
      while (spares.length < SPARE_CONVERTERS) spares.push(await load());
    } finally {
      refilling = undefined;
    }
  })();
  return refilling;
}

/** Loads the spare converters; after it resolves, `new Resampler()` converts from its first frame. */
export async function prepareResamplers(): Promise<void> {
  await refill();
}

function takeSpare(): Converter | Promise<Converter> {
  const spare = spares.shift();
  if (spare) {
    // A failure here is met again, and reported, by the next resampler that has to wait.
    refill().catch(() => undefined);
    return spare;
  }
  return spareWhenLoaded();
}

/**
 * Waits for a converter. More resamplers may wait on one refill than it loads (it loads
 * SPARE_CONVERTERS): one that finds none left waits for the next refill, until it gets one or
 * loading fails (they used to wait forever, holding their input).
 */
async function spareWhenLoaded(): Promise<Converter> {
  for (;;) {
    await refill();
    const c = spares.shift();
    if (c) {
      refill().catch(() => undefined);
      return c;
    }
  }
}

/**
 * A streaming converter from one rate to another, for one sender: feed it consecutive frames and it
 * keeps the filter's state across them, so frame-by-frame output equals converting the whole
 * stream at once (no click at a frame boundary). Its output lags its input by the filter's half
 * length (well under a millisecond at these rates), and each call returns the samples that are ready.
 */
export class Resampler {
  private converter?: Converter;
  private held: Float32Array[] = [];
  private closed = false;

  constructor(
    readonly from: number,
    readonly to: number,
  ) {
    checkRates(from, to);
    if (from === to) return;
    const spare = takeSpare();
    if (!(spare instanceof Promise)) {
      configure(spare, from, to);
      this.converter = spare;
      return;
    }
    spare.then(
      (c) => {
        if (this.closed) return c.destroy();
        configure(c, from, to);
        this.converter = c;
      },
      () => undefined, // process() keeps holding; the failure is reported by prepareResamplers()
    );
  }

  /** Converts one frame (16-bit PCM or floats in [-1, 1]) and returns the output that is ready. */
  process(pcm: Int16Array | Float32Array): Float32Array {
    const input = toFloat(pcm);
    if (this.from === this.to) return input === pcm ? Float32Array.from(input) : input;
    if (!this.converter) {
      this.held.push(input === pcm ? Float32Array.from(input) : input);
      return new Float32Array(0);
    }
    if (this.held.length) {
      const held = this.held;
      this.held = [];
      const parts = held.concat([input]).map((p) => (this.converter as Converter).full(p));
      return concat(parts);
    }
    // The wrapper copies the input into its own memory and the output into a new array.
    return this.converter.full(input);
  }

  /** Frees the converter's memory (26 MB reserved per converter, most of it never touched). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.converter?.destroy();
    this.converter = undefined;
    this.held = [];
  }
}

/** Converts a whole signal at once, the filter's tail included (for files, tests and recordings). */
export async function resample(pcm: Int16Array | Float32Array, from: number, to: number): Promise<Float32Array> {
  checkRates(from, to);
  const input = toFloat(pcm);
  if (from === to) return input === pcm ? Float32Array.from(input) : input;
  const converter = await load();
  try {
    configure(converter, from, to);
    return converter.simple(input);
  } finally {
    converter.destroy();
  }
}

/** 16-bit PCM as floats in [-1, 1) (floats pass through). */
export function toFloat(pcm: Int16Array | Float32Array): Float32Array {
  if (pcm instanceof Float32Array) return pcm;
  const out = new Float32Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = pcm[i] / 32768;
  return out;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
