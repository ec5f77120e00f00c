/**
 * Call links. A link names the server, the API key and the leaf key:
 *
 *   https://HOST/#apikey=KEY&leaf_LEAF        preferred: nothing secret reaches a proxy's access log
 *   https://HOST/?apikey=KEY#leaf_LEAF        the original product's form
 *   https://HOST/?apikey=KEY#generate_leaf    asks the page to make a new leaf
 *
 * `mobile=1` in the query or the fragment makes a mobile peer: it sends and receives only the compact
 * layer (Opus at 48 kHz, compact-layer.ts). `peers=N` (2 to 64) is the host's choice of line size:
 * the line holds up to N peers (bounded by the server's MAX_LINE_CAPACITY and the API key's peer
 * limit); without it, the server's LINE_CAPACITY. `host=KEY` (43 base64url characters: the host's
 * Ed25519 public key) makes a line with membership (issue 14, membership-wire.ts): audio under
 * epoch secrets, and only messages signed by that key (or by a peer it promoted) change who is in.
 */
import { MAX_LINE_PEERS, isLineCapacity } from './control.js';
import { base64urlToBytes, bytesToBase64url } from './bytes.js';
import { parseLeaf } from './keys.js';
import { SIGN_PUBLIC_BYTES } from './membership-wire.js';

export class LinkError extends Error {
  readonly code = 'bad_link';
  constructor(message: string) {
    super(message);
    this.name = 'LinkError';
  }
}

export interface CallLink {
  /** http(s)://host[:port] */
  origin: string;
  /** ws(s)://host[:port]/ws */
  websocketUrl: string;
  apiKey: string;
  /** The leaf text (43 characters), absent when the link asks to generate one. */
  leaf?: string;
  leafBytes?: Uint8Array;
  generateLeaf: boolean;
  mobile: boolean;
  /** The line size the link asks for (`peers=N`), if any. */
  capacity?: number;
  /** The host's Ed25519 public key (`host=`): the line has membership (absent: an open line, as before). */
  hostKey?: Uint8Array;
}

/** The websocket path on the gateway. */
export const WEBSOCKET_PATH = '/ws';

function fragmentParams(fragment: string): { params: URLSearchParams; leaf?: string; generate: boolean } {
  const params = new URLSearchParams();
  let leaf: string | undefined;
  let generate = false;
  for (const part of fragment.split('&')) {
    if (!part) continue;
    if (part === 'generate_leaf') generate = true;
    else if (part.startsWith('leaf_')) leaf = part.slice(5);
    else {
      const eq = part.indexOf('=');
      const name = eq < 0 ? part : part.slice(0, eq);
      const value = eq < 0 ? '' : part.slice(eq + 1);
      params.set(decodeURIComponent(name), decodeURIComponent(value));
    }
  }
  return { params, leaf, generate };
}

/** Parses a call link; throws {@link LinkError} saying what is wrong (never echoing the secrets). */
export function parseCallLink(text: string): CallLink {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LinkError('not a URL: expected a link such as https://HOST/#apikey=KEY&leaf_...');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new LinkError(`unsupported scheme ${url.protocol} (expected http or https)`);
  const fragment = fragmentParams(url.hash.replace(/^#/, ''));
  const apiKey = fragment.params.get('apikey') ?? url.searchParams.get('apikey') ?? '';
  if (!apiKey) throw new LinkError('the link has no apikey (expected #apikey=KEY&leaf_... or ?apikey=KEY)');
  const mobileFlag = fragment.params.get('mobile') ?? url.searchParams.get('mobile');
  const link: CallLink = {
    origin: url.origin,
    websocketUrl: `${url.protocol === 'https:' ? 'wss' : 'ws'}://${url.host}${WEBSOCKET_PATH}`,
    apiKey,
    generateLeaf: fragment.generate,
    mobile: mobileFlag === '1' || mobileFlag === 'true',
  };
  const peers = fragment.params.get('peers') ?? url.searchParams.get('peers');
  if (peers !== null) {
    const n = /^\d{1,3}$/.test(peers) ? Number(peers) : NaN;
    if (!isLineCapacity(n)) throw new LinkError(`peers=${peers.slice(0, 8)} is not a line size (expected a whole number from 2 to ${MAX_LINE_PEERS})`);
    link.capacity = n;
  }
  const host = fragment.params.get('host');
  if (host !== null) {
    const key = base64urlToBytes(host);
    if (!key || key.length !== SIGN_PUBLIC_BYTES) throw new LinkError('the host key in the link is malformed (expected host= and 43 base64url characters)');
    link.hostKey = key;
  }
  if (fragment.leaf !== undefined) {
    const bytes = parseLeaf(fragment.leaf);
    if (!bytes) throw new LinkError('the leaf key in the link is malformed (expected leaf_ and 43 base64url characters)');
    link.leaf = fragment.leaf;
    link.leafBytes = bytes;
  } else if (!fragment.generate) {
    throw new LinkError('the link has no leaf key (expected #leaf_... or #generate_leaf)');
  }
  return link;
}

/** The link to share: the API key and the leaf both in the fragment; `peers`: the line's size; `host`: its host's public key. */
export function formatCallLink(origin: string, apiKey: string, leaf: string, mobile = false, peers?: number, host?: Uint8Array): string {
  return `${origin.replace(/\/$/, '')}/#apikey=${encodeURIComponent(apiKey)}&leaf_${leaf}${mobile ? '&mobile=1' : ''}${peers !== undefined ? `&peers=${peers}` : ''}${host ? `&host=${bytesToBase64url(host)}` : ''}`;
}
