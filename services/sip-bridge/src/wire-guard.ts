/**
 * What the `sip` library does not tell: messages it drops because they are not SIP, and TCP
 * streams it closes for a header block or body past its limit (about which it only prints
 * "Flood attempt, destroying stream" with console.log, outside the JSON log). The library creates
 * its UDP socket and TCP server inside `sip.create()`; {@link captureSockets} catches them there
 * (wrapping `dgram.createSocket` and `net.createServer` for that one synchronous call, then
 * restoring them), and the guard listens beside the library:
 *
 * - UDP: each datagram is parsed as the library does (`sip.parse` and the same required headers);
 *   one that is not SIP is counted (malformed, dropped).
 * - TCP: each connection is framed as the library does, with the bridge's limits
 *   (MAX_SIP_HEADER_BYTES, MAX_SIP_BODY_BYTES), before the library's parser reads the data: a
 *   stream past them is closed here, counted and logged once, while the library's own limits are
 *   set higher so that it never reaches its console.log. A header block that is not SIP is counted.
 *
 * Nothing in node_modules is changed. Messages that parse but cannot be served are answered 400 by
 * the bridge itself (sip-bridge.ts).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import * as sip from 'sip';

export interface WireEvents {
  malformed(transport: 'udp' | 'tcp', outcome: 'dropped' | 'stream_closed'): void;
}

/** Runs `create` (which makes the library's sockets) and returns what it made, with the sockets. */
export function captureSockets<T>(create: () => T): { value: T; udp: dgram.Socket[]; tcp: net.Server[] } {
  const udp: dgram.Socket[] = [];
  const tcp: net.Server[] = [];
  const createSocket = dgram.createSocket;
  const createServer = net.createServer;
  (dgram as { createSocket: unknown }).createSocket = (...args: Parameters<typeof dgram.createSocket>) => {
    const s = (createSocket as (...a: unknown[]) => dgram.Socket)(...args);
    udp.push(s);
    return s;
  };
  (net as { createServer: unknown }).createServer = (...args: unknown[]) => {
    const s = (createServer as (...a: unknown[]) => net.Server)(...args);
    tcp.push(s);
    return s;
  };
  try {
    return { value: create(), udp, tcp };
  } finally {
    (dgram as { createSocket: unknown }).createSocket = createSocket;
    (net as { createServer: unknown }).createServer = createServer;
  }
}

/** The headers without which the library drops a message (its checkMessage). */
function isSip(m: sip.SipMessage | undefined): boolean {
  return Boolean(m && (m.method || (m.status && m.status >= 100 && m.status <= 999)) && Array.isArray(m.headers?.via) && m.headers.via.length > 0 && m.headers['call-id'] && m.headers.to && m.headers.from && m.headers.cseq);
}

export function guardUdp(socket: dgram.Socket, events: WireEvents): void {
  socket.on('message', (data) => {
    let m: sip.SipMessage | undefined;
    try {
      m = sip.parse(data.toString('binary'));
    } catch {
      m = undefined;
    }
    // Keepalives (a lone CRLF, RFC 5626) are not SIP messages and not malformed either.
    if (!isSip(m) && data.toString('binary').trim() !== '') events.malformed('udp', 'dropped');
  });
}

/**
 * Frames each TCP stream as the library does (header block to CRLF CRLF, then Content-Length
 * bytes), within `maxHeaderBytes` and `maxBodyBytes`.
 */
export function guardTcp(server: net.Server, limits: { maxHeaderBytes: number; maxBodyBytes: number }, events: WireEvents): void {
  server.on('connection', (stream: net.Socket) => {
    let buffered = '';
    let body = -1; // bytes of body still to come; -1 while reading a header block
    stream.prependListener('data', (chunk: Buffer | string) => {
      if (stream.destroyed) return;
      buffered += typeof chunk === 'string' ? chunk : chunk.toString('binary');
      for (;;) {
        if (body >= 0) {
          if (buffered.length < body) return;
          buffered = buffered.slice(body);
          body = -1;
        }
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buffered.length > limits.maxHeaderBytes) return close();
          return;
        }
        if (end > limits.maxHeaderBytes) return close();
        const head = buffered.slice(0, end + 4);
        buffered = buffered.slice(end + 4);
        if (head.trim() === '') continue; // CRLF keepalives
        let m: sip.SipMessage | undefined;
        try {
          m = sip.parse(head);
        } catch {
          m = undefined;
        }
        if (!isSip(m)) events.malformed('tcp', 'dropped');
        const length = Number(m?.headers?.['content-length'] ?? 0);
        if (length > limits.maxBodyBytes) return close();
        body = Number.isFinite(length) && length > 0 ? length : 0;
      }
    });
    function close() {
      buffered = '';
      events.malformed('tcp', 'stream_closed');
      stream.destroy();
    }
  });
}
