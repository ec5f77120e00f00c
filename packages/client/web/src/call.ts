/**
 * The page's binding of the call core: the browser's WebSocket, to the gateway that served the
 * page (whatever host the link names). Join, reconnect, sender ids, backpressure and figures are
 * the core's (packages/client/src/call-core.ts), shared with the Node peer.
 */
import { CallLink } from '@studioline/protocol';
import { CallCore, SocketFactory } from '../../src/call-core.js';
import type { CompactCodec } from '../../src/compact-codec.js';
import { MemberCall } from '../../src/member-call.js';
import type { SessionIdentity } from '../../src/session-identity.js';

export type { CallState } from '../../src/call-core.js';

export const browserSocket: SocketFactory = (url) => {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  return ws;
};

/**
 * With a codec (WebCodecs' Opus), a full-rate page also sends the compact layer, and a `mobile=1`
 * page sends and receives only that; without one, the full layer only. On a link with `host=`
 * (membership, issue 14) the call is a MemberCall under `identity`, the same as the Node peer's.
 */
export function browserCall(link: CallLink, sampleRate: number, codec: CompactCodec | undefined, socket: SocketFactory = browserSocket, identity?: SessionIdentity): CallCore | MemberCall {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const options = { link, url, sampleRate, socket, codec, mobile: link.mobile };
  return link.hostKey && identity ? new MemberCall({ ...options, identity }) : new CallCore(options);
}
