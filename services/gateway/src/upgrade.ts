/**
 * The websocket upgrade, authenticated in `server.on('upgrade')` before a socket exists: the path,
 * draining, the page's origin, the sockets the client address holds, and its failed keys. A refusal
 * is a real HTTP answer whose status comes from the one table of errors (ERRORS in
 * @studioline/protocol). The socket's place in the per-address limits is taken here when it opens
 * and given back when it closes.
 */
import { IncomingMessage, STATUS_CODES } from 'node:http';
import { Duplex } from 'node:stream';
import { ERRORS, ErrorCode, WEBSOCKET_PATH } from '@studioline/protocol';
import { WebSocket, WebSocketServer } from 'ws';
import { GatewayConfig } from './config.js';
import { GatewayMetrics } from './metrics.js';
import { OriginPolicy } from './origin-policy.js';
import { Session } from './session.js';
import { SharedAddressLimits } from './shared-address-limits.js';
import { TrustedProxies } from './trusted-proxies.js';

export interface UpgradeGateOptions {
  config: GatewayConfig;
  metrics: GatewayMetrics;
  addressLimits: SharedAddressLimits;
  isDraining(): boolean;
  /** A socket opened: it becomes a session. */
  onSocket(ws: WebSocket, address: string): Session;
}

export class UpgradeGate {
  private readonly wss: WebSocketServer;
  private readonly proxies: TrustedProxies;
  private readonly origins: OriginPolicy;

  /** @throws ConfigError when TRUSTED_PROXIES, ALLOWED_ORIGINS or PUBLIC_URL cannot be read. */
  constructor(private readonly options: UpgradeGateOptions) {
    const { config } = options;
    this.proxies = TrustedProxies.parse(config.trustedProxies);
    this.origins = new OriginPolicy(config.allowedOrigins, config.publicUrl, config.host);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: config.maxMessageBytes, perMessageDeflate: false, clientTracking: false });
  }

  async handle(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const { metrics, addressLimits, isDraining } = this.options;
    socket.on('error', () => undefined);
    const path = (req.url ?? '').split('?')[0];
    /** `reason` is the metric's label: the error's code, or which per-address limit was hit. */
    const refuse = (reason: string, code: ErrorCode, message?: string) => {
      metrics.upgradesRefused.inc({ reason });
      refuseUpgrade(socket, code, message);
    };
    if (path !== WEBSOCKET_PATH) return refuse('not_found', 'not_found', `Websockets are served at ${WEBSOCKET_PATH}`);
    if (isDraining()) return refuse('draining', 'draining');
    const { address, viaProxy } = this.proxies.clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for']);
    if (!this.originAllowed(req, viaProxy)) return refuse('bad_origin', 'bad_origin');
    // Counted (across gateways) from here; given back when the socket closes, or at once when
    // there is no socket after all (ws calls back synchronously; a bad handshake never calls back).
    const admitted = await addressLimits.admit(address);
    if (admitted === 'unavailable') return refuse('unavailable', 'unavailable');
    if (admitted === 'too_many_attempts') metrics.authFailures.inc({ reason: 'rate_limited' });
    if (admitted !== 'ok') return refuse(admitted, 'too_many_attempts', admitted === 'too_many_attempts' ? undefined : TOO_MANY_CONNECTIONS);
    let opened = false;
    if (!isDraining()) {
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        opened = true;
        const session = this.options.onSocket(ws, address);
        ws.on('close', () => addressLimits.closed(address, session.keyHash !== undefined));
      });
    }
    if (!opened) addressLimits.closed(address, false);
    if (isDraining() && !opened) return refuse('draining', 'draining');
  }

  private originAllowed(req: IncomingMessage, viaProxy: boolean): boolean {
    const header = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    return this.origins.allows({
      origin: header('origin'),
      localAddress: req.socket.localAddress,
      localPort: req.socket.localPort,
      forwarded: viaProxy ? { host: header('host'), proto: header('x-forwarded-proto') } : undefined,
    });
  }
}

/** The words for a per-address socket limit (README: a `too_many_attempts` refusal). */
const TOO_MANY_CONNECTIONS = 'Too many connections from this address.';

/** Answers an upgrade with the error's HTTP status (from ERRORS) and its words, then closes. */
export function refuseUpgrade(socket: Duplex, code: ErrorCode, message: string = ERRORS[code].message): void {
  const status = ERRORS[code].httpStatus;
  const body = JSON.stringify({ error: message });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
