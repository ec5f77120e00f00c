/**
 * The SIP transport and transaction layer: `sip` (kirm/sip.js, MIT), a small RFC 3261 stack for
 * Node with UDP and TCP transports and the client/server transaction state machines (README, "SIP
 * bridge", says why this one). This file is the only one that talks to it, so that replacing it
 * touches one file.
 *
 * Two things it does not do, done here: it cannot listen on port 0 (it turns 0 into 5060) and it
 * binds without reporting errors (a busy port would throw from inside it). So the port is probed
 * first, UDP and TCP together, and a busy one is a {@link ListenError} with the setting to change.
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import * as sip from 'sip';
import { ListenError, Logger } from '@studioline/server-kit';
import { WireEvents, captureSockets, guardTcp, guardUdp } from './wire-guard.js';

export type { SipMessage, Remote } from 'sip';

/** Largest SIP message header block and body accepted over TCP; a longer one closes the stream (wire-guard.ts). */
export const MAX_SIP_HEADER_BYTES = 16 * 1024;
export const MAX_SIP_BODY_BYTES = 16 * 1024;

export interface SipStack {
  readonly port: number;
  send(message: sip.SipMessage, onResponse?: (response: sip.SipMessage) => void): void;
  /** Answers `request` (through its server transaction) with `status`; `extra` adds headers or a body. */
  respond(request: sip.SipMessage, status: number, reason?: string, extra?: { headers?: Record<string, unknown>; content?: string }): sip.SipMessage;
  /**
   * A Route entry that sends a request back over the flow a request came in on (the phone's
   * address and port as seen here, the same TCP connection): how an in-dialog request from us
   * (BYE) reaches a phone behind a NAT, and a phone on the bridge's own address (the stack would
   * otherwise take such a request for one addressed to itself, and drop it).
   */
  routeOver(flow: sip.Remote): { uri: string; params: Record<string, string> };
  /** Sends `response` again through its server transaction (a 2xx to INVITE, until the ACK). */
  resend(response: sip.SipMessage): void;
  close(): void;
}

function bindBoth(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const tcp = createServer();
    tcp.once('error', reject);
    tcp.listen(port, host, () => {
      const chosen = (tcp.address() as { port: number }).port;
      const udp = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      udp.once('error', (err) => {
        tcp.close();
        reject(err);
      });
      udp.bind(chosen, host, () => {
        udp.close();
        tcp.close(() => resolve(chosen));
      });
    });
  });
}

/** A port free for both UDP and TCP on `host`: `port` itself, or any when it is 0. */
async function probePort(host: string, port: number): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await bindBoth(host, port);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // Port 0: the TCP port chosen may be taken for UDP; another try picks another.
      if (port === 0 && e.code === 'EADDRINUSE' && attempt < 20) continue;
      const why = e.code === 'EADDRINUSE' ? 'the port is already in use (UDP or TCP)' : e.code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)' : e.message;
      throw new ListenError(`the SIP bridge cannot listen on ${host}:${port}: ${why}. Set SIP_PORT to another port (or SIP_HOST to another address)`, e.code ?? 'unknown');
    }
  }
}

export async function startSipStack(options: {
  host: string;
  port: number;
  publicAddress: string;
  logger: Logger;
  onRequest: (request: sip.SipMessage, remote: sip.Remote) => void;
  /** Messages that are not SIP, and TCP streams closed past the limits (wire-guard.ts). */
  wire: WireEvents;
}): Promise<SipStack> {
  const port = await probePort(options.host, options.port);
  const { logger } = options;
  const { value: stack, udp, tcp } = captureSockets(() =>
    sip.create(
      {
        address: options.host,
        port,
        publicAddress: options.publicAddress,
        udp: true,
        tcp: true,
        // Higher than the guard's limits: the guard closes a stream first, so the library never
        // reaches its own limit (and its console.log).
        maxBytesHeaders: 4 * MAX_SIP_HEADER_BYTES + 65_536,
        maxContentLength: 4 * MAX_SIP_BODY_BYTES + 65_536,
        logger: { error: (err) => logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'SIP stack error') },
      },
      (request, remote) => options.onRequest(request, remote),
    ),
  );
  for (const socket of udp) guardUdp(socket, options.wire);
  for (const server of tcp) guardTcp(server, { maxHeaderBytes: MAX_SIP_HEADER_BYTES, maxBodyBytes: MAX_SIP_BODY_BYTES }, options.wire);
  if (udp.length !== 1 || tcp.length !== 1) logger.warn({ udp: udp.length, tcp: tcp.length }, 'the SIP library made other sockets than expected: malformed messages may go uncounted');
  return {
    port,
    send: (message, onResponse) => stack.send(message, onResponse),
    respond(request, status, reason, extra = {}) {
      const response = sip.makeResponse(request, status, reason);
      // The library copies the request's version: a SIP/3.0 request is still answered in SIP/2.0.
      response.version = '2.0';
      Object.assign(response.headers, extra.headers ?? {});
      if (extra.content !== undefined) response.content = extra.content;
      stack.send(response);
      return response;
    },
    resend: (response) => stack.send(response),
    routeOver(flow) {
      const uri = stack.encodeFlowUri(flow);
      return { uri: sip.stringifyUri({ ...uri, params: { ...uri.params, lr: null } }), params: {} };
    },
    close: () => stack.destroy(),
  };
}
