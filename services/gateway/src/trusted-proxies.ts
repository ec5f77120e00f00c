/**
 * Which hop a websocket really comes from. The gateway believes X-Forwarded-For only when the TCP
 * peer is a configured trusted proxy (TRUSTED_PROXIES, CIDRs), and then only up to the first
 * address in the chain that is not itself a trusted proxy: everything left of that was written by
 * the client and proves nothing. So the per-address limits (failed keys, sockets) apply to the
 * real client behind the ingress, and a direct client cannot choose its own address.
 */
import { BlockList, isIP } from 'node:net';
import { ConfigError } from '@studioline/server-kit';

export class TrustedProxies {
  private constructor(
    private readonly list: BlockList,
    /** The configured CIDRs, for logs and errors. */
    readonly cidrs: readonly string[],
  ) {}

  /** None trusted: every client address is the socket's own (the default). */
  static readonly NONE = TrustedProxies.parse([]);

  /**
   * Parses CIDRs (`10.0.0.0/8`, `fd00::/8`, `::ffff:10.0.0.0/104`) or single addresses (a /32 or
   * /128). IPv4 rules also match IPv4-mapped IPv6 peers (`::ffff:10.1.2.3`) and the other way round.
   * @throws ConfigError naming the entry that is not a CIDR.
   */
  static parse(cidrs: readonly string[], setting = 'TRUSTED_PROXIES'): TrustedProxies {
    const list = new BlockList();
    for (const entry of cidrs) {
      const [address, prefixText, extra] = entry.split('/');
      const family = isIP(address);
      const bits = family === 4 ? 32 : 128;
      const prefix = prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
      if (!family || extra !== undefined || !(prefix >= 0 && prefix <= bits)) {
        throw new ConfigError(`${setting}: "${entry}" is not an IPv4 or IPv6 address or CIDR (e.g. 10.0.0.0/8, fd00::/8, 192.0.2.7)`);
      }
      list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
    }
    return new TrustedProxies(list, [...cidrs]);
  }

  get any(): boolean {
    return this.cidrs.length > 0;
  }

  /** True when `address` (as normalized by {@link normalizeAddress}) is a trusted proxy. */
  trusts(address: string): boolean {
    const family = isIP(address);
    return family !== 0 && this.list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * The client's address: the socket's peer, unless that is a trusted proxy; then the right-most
   * address of X-Forwarded-For that is not a trusted proxy (proxies append what they saw, so
   * the right end is the only part written by someone we trust). A chain of trusted proxies only
   * yields its left-most entry. An entry that is not an address ends the walk at the hop that
   * wrote it. `viaProxy`: the socket's peer is a trusted proxy, so its other forwarded headers
   * (Host, X-Forwarded-Proto) may be believed too.
   */
  clientAddress(socketAddress: string | undefined, forwardedFor: string | string[] | undefined): { address: string; viaProxy: boolean } {
    let address = normalizeAddress(socketAddress ?? '') || 'unknown';
    if (!this.any || !this.trusts(address)) return { address, viaProxy: false };
    if (forwardedFor === undefined) return { address, viaProxy: true };
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalizeAddress(hops[i]);
      if (!hop) break;
      address = hop;
      if (!this.trusts(hop)) break;
    }
    return { address, viaProxy: true };
  }
}

/**
 * One spelling per address, so that limits keyed by address hold whatever the socket family:
 * IPv4-mapped IPv6 (`::ffff:1.2.3.4`, `::ffff:102:304`) becomes plain IPv4, IPv6 is lower-cased,
 * and a port some proxies append (`1.2.3.4:5678`, `[::1]:5678`) is dropped. '' when not an address.
 */
export function normalizeAddress(raw: string): string {
  let text = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  if (bracketed) text = bracketed[1];
  else if (/^[\d.]+:\d+$/.test(text)) text = text.slice(0, text.lastIndexOf(':'));
  const family = isIP(text);
  if (family === 4) return text;
  if (family !== 6) return '';
  text = text.toLowerCase();
  const mapped = /^(?:::|(?:0{1,4}:){5})ffff:(.+)$/.exec(text);
  if (mapped) {
    if (isIP(mapped[1]) === 4) return mapped[1];
    const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(mapped[1]);
    if (hex) {
      const hi = parseInt(hex[1], 16);
      const lo = parseInt(hex[2], 16);
      return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
    }
  }
  return text;
}
