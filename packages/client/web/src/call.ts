/**
 * The page's binding of the call core: the browser's WebSocket, to the gateway that served the
 * page (whatever host the link names). Join, reconnect, sender ids, backpressure and figures are
 * the core's (packages/client/src/call-core.ts), shared with the Node peer.
 */
import { CallLink } from '@studioline/protocol';
import { CallCore, SocketFactory } from '../../src/call-core.js';
import type { CompactCodec } from '../../src/compact-codec.js';

export type { CallState } from '../../src/call-core.js';

const browserSocket: SocketFactory = (url) => {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  return ws;
};

/**
 * With a codec (WebCodecs' Opus), a full-rate page also sends the compact layer, and a `mobile=1`
 * page sends and receives only that; without one, the full layer only.
 */
export function browserCall(link: CallLink, sampleRate: number, codec: CompactCodec | undefined): CallCore {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  return new CallCore({ link, url, sampleRate, socket: browserSocket, codec, mobile: link.mobile });
}
