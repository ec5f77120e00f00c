/** The call core's transport in Node: a `ws` WebSocket, which is a {@link CallSocket} as it is. */
import WebSocket from 'ws';
import type { CallSocket, SocketFactory } from './call-core.js';

export interface NodeSocketOptions {
  /** Sent as the Origin header (browsers always send one; the Node peer none by default). */
  origin?: string;
  /** Extra CA certificates (PEM) to trust for wss:// (a private CA). */
  ca?: string | Buffer;
}

export function nodeSocketFactory(options: NodeSocketOptions = {}): SocketFactory {
  return (url, onRefused) => {
    const headers: Record<string, string> = options.origin ? { Origin: options.origin } : {};
    const ws = new WebSocket(url, { perMessageDeflate: false, headers, ca: options.ca });
    // A refused upgrade has an HTTP status that tells why (403 origin, 429 too many attempts);
    // ws would otherwise report only "unexpected server response".
    ws.on('unexpected-response', (_req, res) => {
      onRefused(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    const socket: CallSocket = ws;
    return socket;
  };
}
