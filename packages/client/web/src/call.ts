/**
 * The page's binding of the call core: the browser's WebSocket, to the gateway that served the
 * page (whatever host the link names). Join, reconnect, sender ids, backpressure and figures are
 * the core's (packages/client/src/call-core.ts), shared with the Node peer.
 */
import { CallLink } from '@studioline/protocol';
import { CallCore, SocketFactory } from '../../src/call-core.js';

export type { CallState } from '../../src/call-core.js';

const browserSocket: SocketFactory = (url) => {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  return ws;
};

export function browserCall(link: CallLink, sampleRate: number): CallCore {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  return new CallCore({ link, url, sampleRate, socket: browserSocket });
}
