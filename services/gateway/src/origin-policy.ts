/**
 * Which pages may open a websocket. Browsers always send Origin; a page of another site (or one
 * reached through DNS rebinding, where Origin and Host agree on the attacker's name) must be
 * refused. So Origin is compared with what this server knows to be its own public origin, never
 * with the Host header a client chose:
 * - ALLOWED_ORIGINS, always;
 * - PUBLIC_URL's origin when it is set (the chart sets it from the Ingress host);
 * - otherwise, through a trusted proxy, the origin the proxy forwarded (X-Forwarded-Proto and
 *   Host, as deploy/nginx and ingress-nginx set them);
 * - otherwise the address the connection arrived on (http://address:port), and on a loopback or
 *   wildcard listener also http://localhost, 127.0.0.1 and [::1] at that port: the embedded default.
 * A client that sends no Origin (the Node peer) is not a browser and is allowed: Origin protects
 * browsers' users, not the server.
 */
import { isIP } from 'node:net';
import { ConfigError } from '@studioline/server-kit';
import { normalizeAddress } from './trusted-proxies.js';

export interface OriginRequest {
  origin?: string;
  /** The local end of the TCP connection (what the client connected to). */
  localAddress?: string;
  localPort?: number;
  /** Set only when the connection came from a trusted proxy. */
  forwarded?: { host?: string; proto?: string };
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

export class OriginPolicy {
  private readonly allowed: Set<string>;
  private readonly publicOrigin?: string;

  /** @throws ConfigError when an allowed origin or the public URL is not an http(s) URL. */
  constructor(allowedOrigins: readonly string[], publicUrl: string | undefined, private readonly listenHost: string) {
    this.allowed = new Set(allowedOrigins.map((o) => originOf(o, 'ALLOWED_ORIGINS')));
    if (publicUrl) this.publicOrigin = originOf(publicUrl, 'PUBLIC_URL');
  }

  allows(req: OriginRequest): boolean {
    if (req.origin === undefined) return true;
    const origin = tryOrigin(req.origin);
    if (!origin) return false;
    if (this.allowed.has(origin)) return true;
    if (this.publicOrigin) return origin === this.publicOrigin;
    if (req.forwarded) {
      const proto = (req.forwarded.proto ?? 'http').split(',')[0].trim().toLowerCase();
      return !!req.forwarded.host && (proto === 'http' || proto === 'https') && origin === tryOrigin(`${proto}://${req.forwarded.host}`);
    }
    return this.listenOrigins(req).includes(origin);
  }

  private listenOrigins(req: OriginRequest): string[] {
    const localAddress = normalizeAddress(req.localAddress ?? '');
    const localPort = req.localPort;
    if (!localAddress || !localPort) return [];
    const own = tryOrigin(`http://${isIP(localAddress) === 6 ? `[${localAddress}]` : localAddress}:${localPort}`);
    const local = /^(0\.0\.0\.0|::|localhost)$/.test(this.listenHost) || /^(127\.|::1$)/.test(localAddress);
    const names = local ? LOOPBACK_NAMES.map((n) => `http://${n}:${localPort}`) : [];
    return own ? [own, ...names] : names;
  }
}

function tryOrigin(text: string): string | undefined {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

function originOf(text: string, setting: string): string {
  const origin = tryOrigin(text);
  if (!origin) throw new ConfigError(`${setting}: "${text}" is not an http(s) URL such as https://calls.example.com`);
  return origin;
}
