/**
 * Listening on a port, with one clear sentence when it fails: which service, which address, why,
 * and which setting changes it. A busy port is the first thing a newcomer meets; a stack trace
 * from inside node:net tells them none of that.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Which service listens, and how an operator changes its address. */
export interface ListenSetting {
  /** The service, as the operator knows it: "gateway", "keys admin API", "metrics". */
  service: string;
  /** The environment variable of the port, e.g. "PORT". */
  portVariable: string;
  /** The environment variable of the address, e.g. "HOST". */
  hostVariable: string;
  /** The command-line option that overrides the port, when there is one, e.g. "--port". */
  portOption?: string;
}

export class ListenError extends Error {
  readonly code = 'listen_failed';
  constructor(
    message: string,
    /** The system error code: EADDRINUSE, EACCES, EADDRNOTAVAIL, ... */
    readonly reason: string,
  ) {
    super(message);
    this.name = 'ListenError';
  }
}

function explain(err: NodeJS.ErrnoException, port: number, host: string, s: ListenSetting): string {
  const portSetting = s.portOption ? `${s.portVariable} (or ${s.portOption})` : s.portVariable;
  const where = `${host}:${port}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return `the ${s.service} cannot listen on ${where}: the port is already in use (another Studioline?). Stop that process, or set ${portSetting} to another port`;
    case 'EACCES':
      return `the ${s.service} cannot listen on ${where}: permission denied (ports below 1024 need privileges). Set ${portSetting} to a port above 1023`;
    case 'EADDRNOTAVAIL':
      return `the ${s.service} cannot listen on ${where}: ${host} is not an address of this machine. Set ${s.hostVariable} to one of its addresses (127.0.0.1, or 0.0.0.0 for all)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the ${s.service} cannot listen on ${where}: the host name ${host} does not resolve. Set ${s.hostVariable} to an address`;
    default:
      return `the ${s.service} cannot listen on ${where}: ${err.message}. Check ${s.hostVariable} and ${portSetting}`;
  }
}

/** Listens, or rejects with a {@link ListenError} that says what to change. */
export function listen(server: Server, port: number, host: string, setting: ListenSetting): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(new ListenError(explain(err, port, host, setting), err.code ?? 'unknown'));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** http://host:port of a listening server (IPv6 addresses in brackets). */
export function serverUrl(server: Server): string {
  const addr = server.address() as AddressInfo;
  return `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
}
