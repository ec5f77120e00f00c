/**
 * Several channels over one websocket (issue 14): a peer may be on several lines at once, one per
 * channel, each joined with its own link (line id and leaf key), its own sender id (the SFrame
 * nonce domain is per line) and its own API key check, seat and limits, as if it were a socket of
 * its own. This file is the one place for how frames and messages say which channel they are of.
 *
 * A socket is a channel socket when its FIRST join carries `ch` (a channel number, 0 to
 * {@link MAX_CHANNEL_INDEX}, chosen by the client); a socket whose first join has no `ch` is a
 * one-line socket exactly as before (no channel byte anywhere), and never takes a `ch` later.
 *
 * Binary messages of a channel socket, both ways:
 *
 *   byte  0    the channel number (u8), as the join named it
 *   bytes 1-   the wire frame, unchanged (wire-frame.ts: level byte, SFrame header, ciphertext, tag)
 *
 * The gateway strips the byte from what a peer sends (a view, no copy) and puts it in front of what
 * it delivers (one copy of the frame, so the frame leaves in one socket write); relays never see it.
 * A frame names its channel in clear, which the server knows anyway (it routes each channel).
 *
 * Text messages of a channel socket carry `ch` where they concern one channel:
 *   client -> gateway  join { ..., ch }, ping { t, ch } (answered with that channel's serverMs),
 *                      leave { ch } (leaves that line, the socket stays: answered by `left`)
 *   gateway -> client  joined, peer_joined, peer_left, pong, layer, left { ch }, and an `error` with
 *                      `ch`: a refusal of that channel only (its seat given back, the other channels
 *                      go on); an `error` without `ch` concerns the whole socket, as before.
 *
 * Limits. A socket holds at most MAX_CHANNELS channels at once (the gateway's setting, default
 * {@link DEFAULT_MAX_CHANNELS}); one more is refused with `channel_limit`. Every limit of a join
 * applies to each channel (key check, the key's peers and lines, the line's capacity, one sender id
 * per line). The bandwidth budgets stay per socket: see {@link CHANNEL_LAYER_POLICY}.
 */

/** The highest channel number a join may name (the channel byte is a u8). */
export const MAX_CHANNEL_INDEX = 255;
/** Channels one socket may hold at once unless the gateway is told otherwise (MAX_CHANNELS). */
export const DEFAULT_MAX_CHANNELS = 8;
/** Bytes the channel number adds in front of a binary message. */
export const CHANNEL_BYTES = 1;

/**
 * What a listener of several channels is sent, within the one downlink budget of its socket (two
 * full-rate streams already take 92 % of 7 Mbit/s): its LEAD channel, the lowest channel number it
 * is on, is sent the layer it asked for; every other channel is capped at the compact layer (Opus,
 * at most 0.13 Mbit/s per speaker). When the lead channel leaves, the next lowest becomes the lead.
 * A link in trouble is stepped down on every channel alike (layer-step.ts in the gateway). A
 * sender that sends no compact layer is still heard at full rate (the relay keeps a voice rather
 * than lose it); the budget then drops what does not fit, counted as over_budget.
 */
export const CHANNEL_LAYER_POLICY = 'lead channel at the layer it asked for, every other channel compact';

/** True for a channel number a join may name. */
export function isChannelIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_CHANNEL_INDEX;
}

/** A channel socket's binary message: the channel number, then the wire frame (one copy). */
export function encodeChannelFrame(channel: number, wire: Uint8Array): Uint8Array {
  const out = new Uint8Array(CHANNEL_BYTES + wire.length);
  out[0] = channel;
  out.set(wire, CHANNEL_BYTES);
  return out;
}

/** The channel number of a channel socket's binary message, or -1 when it holds no frame. */
export function channelOfFrame(message: Uint8Array): number {
  return message.length > CHANNEL_BYTES ? message[0] : -1;
}

/** The wire frame of a channel socket's binary message (a view, not a copy). */
export function frameOfChannelMessage<T extends Uint8Array>(message: T): T {
  return message.subarray(CHANNEL_BYTES) as T;
}
