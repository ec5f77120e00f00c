/**
 * Control messages between a client and the gateway: JSON in websocket text messages. Audio never
 * travels here; it goes in binary messages (see wire-frame.ts).
 *
 * client -> gateway
 *   join   { type, v: 1, apikey, line, sender, rate, layers?, receive?, capacity? }
 *                                                        first message, within the join timeout;
 *                                                        layers: what it sends (["full"] when absent),
 *                                                        receive: the best layer it wants ("full"
 *                                                        when absent; a mobile peer: "compact"),
 *                                                        capacity: the peers the line may hold, from
 *                                                        the host's link (`peers=N`), used by the peer
 *                                                        that opens the line, bounded by the server
 *                                                        and the API key
 *   ping   { type, t }                                   answered by pong with the same t (RTT)
 * gateway -> client
 *   joined       { type, line, sender, peers: [sender], capacity, budgetBps }
 *   peer_joined  { type, sender }
 *   peer_left    { type, sender }
 *   pong         { type, t, serverMs? }   serverMs: the servers' own share of the way frames take to
 *                                          this peer (gateway in, bus, relay, gateway out), averaged
 *   layer        { type, layer, reason }  the best layer it is sent now changed: stepped down
 *                                          ("congested": its link queues the audio, as the
 *                                          gateway's probes find) or back up ("calm": no queue for
 *                                          a while); layer-step.ts in the gateway
 *   error        { type, code, message }   a refusal that closes (with the code's close code) or a
 *                                          warning that does not (malformed_frame, over_budget)
 */
import { ERRORS, ErrorCode } from './errors.js';
import { LINE_ID_BYTES, senderIdToText } from './keys.js';
import { LAYER_NAMES, LayerName, layerNumber } from './wire-frame.js';

export const PROTOCOL_VERSION = 1;
/** Text messages are tiny; anything longer is refused before parsing. */
export const MAX_CONTROL_MESSAGE_BYTES = 2048;
/** The most peers a line can be asked to hold (a link's `peers=N`; LINE_CAPACITY, MAX_LINE_CAPACITY). */
export const MAX_LINE_PEERS = 64;

/** True for a line capacity a link or a join may ask for: an integer from 2 to {@link MAX_LINE_PEERS}. */
export function isLineCapacity(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 2 && value <= MAX_LINE_PEERS;
}

export interface JoinMessage {
  type: 'join';
  v: number;
  apikey: string;
  line: string;
  sender: string;
  rate: number;
  /** The layers this peer sends, best first, each once. */
  layers: LayerName[];
  /** The best layer it wants to receive (it gets the best each sender sends at or below it). */
  receive: LayerName;
  /** The peers the line may hold, as the host's link asks (absent: the server's default). */
  capacity?: number;
}
export interface PingMessage {
  type: 'ping';
  t: number;
}
export type ClientMessage = JoinMessage | PingMessage;

export interface JoinedMessage {
  type: 'joined';
  line: string;
  sender: string;
  peers: string[];
  capacity: number;
  budgetBps: number;
}
export interface PeerMessage {
  type: 'peer_joined' | 'peer_left';
  sender: string;
}
export interface PongMessage {
  type: 'pong';
  t: number;
  /** The servers' own share of the way recent frames took to this peer, ms (absent before any frame). */
  serverMs?: number;
}
export interface ErrorMessage {
  type: 'error';
  code: ErrorCode;
  message: string;
}
/** Why the layer a peer is sent changed (layer-step.ts in the gateway). */
export type LayerChangeReason = 'congested' | 'calm';
export interface LayerMessage {
  type: 'layer';
  /** The best layer it is sent now. */
  layer: LayerName;
  reason: LayerChangeReason;
}
export type ServerMessage = JoinedMessage | PeerMessage | PongMessage | LayerMessage | ErrorMessage;

const LINE_ID_PATTERN = new RegExp(`^[A-Za-z0-9_-]{${Math.ceil((LINE_ID_BYTES * 4) / 3)}}$`);

export function isLineId(value: unknown): value is string {
  return typeof value === 'string' && LINE_ID_PATTERN.test(value);
}

/** Parses a client's text message; returns undefined for anything malformed. */
export function parseClientMessage(text: string): ClientMessage | undefined {
  if (text.length > MAX_CONTROL_MESSAGE_BYTES) return undefined;
  let msg: Record<string, unknown>;
  try {
    msg = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!msg || typeof msg !== 'object') return undefined;
  if (msg.type === 'ping' && typeof msg.t === 'number') return { type: 'ping', t: msg.t };
  if (
    msg.type === 'join' &&
    msg.v === PROTOCOL_VERSION &&
    typeof msg.apikey === 'string' &&
    msg.apikey.length > 0 &&
    msg.apikey.length <= 256 &&
    isLineId(msg.line) &&
    typeof msg.sender === 'string' &&
    /^[0-9a-f]{1,12}$/.test(msg.sender) &&
    typeof msg.rate === 'number' &&
    Number.isInteger(msg.rate) &&
    msg.rate >= 8000 &&
    msg.rate <= 384_000 &&
    (msg.capacity === undefined || isLineCapacity(msg.capacity))
  ) {
    const layers = parseLayers(msg.layers);
    const receive = msg.receive === undefined ? 'full' : layerNumber(msg.receive) >= 0 ? (msg.receive as LayerName) : undefined;
    if (!layers || !receive) return undefined;
    const join: JoinMessage = { type: 'join', v: PROTOCOL_VERSION, apikey: msg.apikey, line: msg.line, sender: msg.sender, rate: msg.rate, layers, receive };
    if (msg.capacity !== undefined) join.capacity = msg.capacity as number;
    return join;
  }
  return undefined;
}

/** A join's `layers`: absent means the full layer only (clients from before layers); else known names, each once, put best first. */
function parseLayers(value: unknown): LayerName[] | undefined {
  if (value === undefined) return ['full'];
  if (!Array.isArray(value) || value.length === 0 || value.length > LAYER_NAMES.length) return undefined;
  const numbers = value.map(layerNumber);
  if (numbers.some((n) => n < 0) || new Set(numbers).size !== numbers.length) return undefined;
  return numbers.sort((a, b) => a - b).map((n) => LAYER_NAMES[n]);
}

/** What a peer sends and wants; a client from before layers sends and wants the full layer. */
export interface JoinLayers {
  layers: LayerName[];
  receive: LayerName;
}

export const FULL_LAYER_ONLY: JoinLayers = { layers: ['full'], receive: 'full' };
/** A `mobile=1` peer: it sends and wants the compact layer only. */
export const COMPACT_LAYER_ONLY: JoinLayers = { layers: ['compact'], receive: 'compact' };

/** The first message of a connection, as every client sends it. */
export function encodeJoin(apikey: string, line: string, sender: bigint, rate: number, options: { layers?: JoinLayers; capacity?: number } = {}): string {
  const { layers = FULL_LAYER_ONLY, capacity } = options;
  const join: JoinMessage = { type: 'join', v: PROTOCOL_VERSION, apikey, line, sender: senderIdToText(sender), rate, layers: [...layers.layers], receive: layers.receive };
  if (capacity !== undefined) join.capacity = capacity;
  return JSON.stringify(join);
}

export function errorMessage(code: ErrorCode, message: string = ERRORS[code].message): ErrorMessage {
  return { type: 'error', code, message };
}

/** Parses a server's text message (clients trust the gateway's shape but not blindly). */
export function parseServerMessage(text: string): ServerMessage | undefined {
  try {
    const msg = JSON.parse(text);
    if (msg && typeof msg === 'object' && typeof msg.type === 'string') return msg as ServerMessage;
  } catch {
    /* fall through */
  }
  return undefined;
}
