/**
 * Every Redis key and pub/sub channel Studioline uses, built in this one place. `prefix` (default
 * "studioline:") lets several deployments or test runs share one Redis. No key or channel ever holds
 * a leaf key or a whole API key: API keys appear only as SHA-256 digests.
 */
export class RedisKeys {
  /**
   * The prefix of the audio channels: the key prefix without its braces. On a Cluster the key
   * prefix's hash tag (e.g. "{studioline}:") puts every key and the control channels on one slot,
   * so that scripts and transactions stay on one node; the audio channels must not share it, or
   * one shard would carry every line's audio.
   */
  private readonly audioPrefix: string;

  constructor(readonly prefix = 'studioline:') {
    this.audioPrefix = prefix.replace(/[{}]/g, '');
  }

  /** HASH of one API key, by the hex SHA-256 of its secret: id, name, prefix, createdAt, expiresAt, revokedAt. */
  apiKey(hash: string): string {
    return `${this.prefix}apikey:${hash}`;
  }
  /** STRING: the current secret hash of the key with this id. */
  apiKeyId(id: string): string {
    return `${this.prefix}apikey-id:${id}`;
  }
  /** SET of every key id. */
  apiKeyIds(): string {
    return `${this.prefix}apikeys`;
  }
  /** LIST of audit entries (JSON), newest first, capped. */
  audit(): string {
    return `${this.prefix}audit`;
  }
  /**
   * HASH of one SIP extension (sip-accounts.ts): extension, ha1 (hex MD5 of extension:realm:password,
   * never the password), realm, line, name, createdAt, source.
   */
  sipAccount(extension: string): string {
    return `${this.prefix}sip-ext:${extension}`;
  }
  /** SET of every SIP extension. */
  sipAccounts(): string {
    return `${this.prefix}sip-exts`;
  }
  /** STRING counter of failed authentications from one client address, expiring with its window. */
  authFailures(address: string): string {
    return `${this.prefix}authfail:${address}`;
  }
  /**
   * HASH of what one gateway holds per client address (address-counts.ts): fields `s|ADDRESS` open
   * sockets, `u|ADDRESS` sockets not yet authenticated, `c|ADDRESS` key checks in flight; values
   * counts. Expires a lease after the gateway's last renewal.
   */
  addressCounts(gatewayId: string): string {
    return `${this.prefix}addr:${gatewayId}`;
  }
  /**
   * HASH of the seats one API key holds across gateways (key-seats.ts): field `GATEWAY|LINE` that
   * gateway's peers of the key on that line, `GATEWAY|` a mark that the gateway's share is there.
   * Expires a lease after the last renewal by any gateway holding the key.
   */
  keySeats(keyId: string): string {
    return `${this.prefix}keyseats:${keyId}`;
  }
  /** ZSET of live relays or gateways: member the process id, score the time (ms) its registration expires. */
  presence(kind: 'relays' | 'gateways'): string {
    return `${this.prefix}${kind}`;
  }

  /**
   * Channel: binary envelopes and JSON control to one relay. The id is its hash tag: on a Cluster
   * (sharded pub/sub) each relay's channel lives on the shard its id hashes to.
   */
  relayChannel(relayId: string): string {
    return `${this.audioPrefix}relay:{${relayId}}`;
  }
  /** Channel: binary envelopes and JSON control to one gateway; hashed by its id, as relayChannel. */
  gatewayChannel(gatewayId: string): string {
    return `${this.audioPrefix}gw:{${gatewayId}}`;
  }
  // The control channels below keep the whole prefix: on a Cluster they share the keys' slot.

  /** Channel: JSON { hash } of each revoked key, so every gateway closes its sockets at once. */
  revocations(): string {
    return `${this.prefix}keys:revoked`;
  }
  /** Channel: JSON { hash } of a key whose expiry changed, so gateways holding it re-read it. */
  keyChanges(): string {
    return `${this.prefix}keys:changed`;
  }
  /** Channel: a relay registered or left (any payload); gateways re-read the directory at once. */
  relaysChanged(): string {
    return `${this.prefix}relays:changed`;
  }
}

/** The hash tag of a Redis key or channel (what Cluster hashes), or undefined when it has none. */
export function hashTag(name: string): string | undefined {
  const open = name.indexOf('{');
  if (open < 0) return undefined;
  const close = name.indexOf('}', open + 1);
  return close > open + 1 ? name.slice(open + 1, close) : undefined;
}
