/**
 * What one client address may hold on this gateway at once: open sockets, sockets that have not
 * yet authenticated, and key checks in flight. The failed-key limit is shared by every gateway
 * (AUTH_FAIL_LIMIT, in the store) but is only known once a check completes; counting the checks
 * in flight here, synchronously at their start, keeps 40 concurrent sockets from getting 40
 * guesses. Addresses are as the trusted-proxy rules give them (the real client behind a proxy).
 */
export type AddressRefusal = 'too_many_sockets' | 'too_many_unauthenticated';

export class AddressLimits {
  private readonly open = new Map<string, number>();
  private readonly unauthenticated = new Map<string, number>();
  private readonly checking = new Map<string, number>();

  constructor(
    private readonly maxSockets: number,
    private readonly maxUnauthenticated: number,
  ) {}

  /** Why a new socket from `address` must be refused, if it must. */
  refusal(address: string): AddressRefusal | undefined {
    if ((this.open.get(address) ?? 0) >= this.maxSockets) return 'too_many_sockets';
    if ((this.unauthenticated.get(address) ?? 0) >= this.maxUnauthenticated) return 'too_many_unauthenticated';
    return undefined;
  }

  opened(address: string): void {
    add(this.open, address, 1);
    add(this.unauthenticated, address, 1);
  }

  authenticated(address: string): void {
    add(this.unauthenticated, address, -1);
  }

  closed(address: string, authenticated: boolean): void {
    add(this.open, address, -1);
    if (!authenticated) add(this.unauthenticated, address, -1);
  }

  /** A key check starts; returns the checks of this address now in flight, this one included. */
  startCheck(address: string): number {
    return add(this.checking, address, 1);
  }

  endCheck(address: string): void {
    add(this.checking, address, -1);
  }
}

function add(map: Map<string, number>, key: string, delta: number): number {
  const value = (map.get(key) ?? 0) + delta;
  if (value <= 0) map.delete(key);
  else map.set(key, value);
  return value;
}
