/**
 * The operations endpoints every process serves, written once: `/healthz` (the process is alive),
 * `/readyz` (it can do its work: 200, else 503) and `/metrics` (Prometheus text). `opsHandler` answers
 * them on a server that also serves other things (the gateway's public port, keys-admin's API);
 * `startOpsServer` gives a process them on a port of their own (METRICS_PORT).
 */
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ListenSetting, listen, serverUrl } from './listen.js';

/** What /readyz says: `ready` decides the status; the other fields explain it to an operator. */
export interface Readiness {
  ready: boolean;
  [detail: string]: unknown;
}

export interface OpsOptions {
  /** Serve /metrics from this registry; without one, /metrics is not served here (404). */
  registry?: Registry;
  readiness(): Readiness;
}

export type OpsHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

const JSON_TYPE = { 'content-type': 'application/json' };

/**
 * Answers GET /healthz, /readyz and /metrics and returns true; returns false for any other request
 * (the caller serves it). Usable as plain node:http code or as express middleware.
 */
export function opsHandler(options: OpsOptions): OpsHandler {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = (req.url ?? '').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, JSON_TYPE).end('{"status":"ok"}');
      return true;
    }
    if (path === '/readyz') {
      const state = options.readiness();
      res.writeHead(state.ready ? 200 : 503, JSON_TYPE).end(JSON.stringify(state));
      return true;
    }
    if (path === '/metrics' && options.registry) {
      const registry = options.registry;
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`),
      );
      return true;
    }
    return false;
  };
}

/** Express middleware form of {@link opsHandler}. */
export function opsMiddleware(options: OpsOptions): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  const handle = opsHandler(options);
  return (req, res, next) => {
    if (!handle(req, res)) next();
  };
}

export interface OpsServer {
  /** http://host:port it listens on. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface OpsServerOptions extends OpsOptions {
  port: number;
  host: string;
  /** How the operator sets the port, for the message when it cannot be listened on. */
  setting: ListenSetting;
}

/** The three endpoints alone on their own port (404 for anything else). */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const handle = opsHandler(options);
  const server: Server = createServer((req, res) => {
    if (!handle(req, res)) res.writeHead(404, JSON_TYPE).end('{"error":"not_found"}');
  });
  await listen(server, options.port, options.host, options.setting);
  return {
    url: serverUrl(server),
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * METRICS_PORT's one default, for every process: 0, no port of its own. A gateway then answers
 * /healthz, /readyz and /metrics on its main port (PORT), keys-admin on its API port; a relay alone,
 * which has no other port, gets a free one (logged). The chart sets 9090 for gateways and relays.
 */
export const DEFAULT_METRICS_PORT = 0;
