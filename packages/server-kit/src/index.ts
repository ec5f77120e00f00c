// The public surface of server-kit. The RESP codec and the raw Redis streams (resp.ts,
// redis-stream.ts) and the Redis bus class stay inside: services get a Backend and never speak
// RESP; server-kit's own tests import those files directly.
export * from './env.js';
export * from './logger.js';
export * from './redis-keys.js';
export * from './api-keys.js';
export type { Bus, BusHandler } from './bus.js';
export { MemoryBus, MAX_PUBLISH_BACKLOG_BYTES, unbatch } from './bus.js';
export * from './key-store.js';
export * from './sip-accounts.js';
export * from './presence.js';
export * from './auth-failures.js';
export type { AddressCaps, AddressCounts, AdmitResult, CheckStart } from './address-counts.js';
export type { KeySeats, SeatClaim, SeatLimits } from './key-seats.js';
export * from './backend.js';
export * from './rendezvous.js';
export * from './lifecycle.js';
export * from './metrics.js';
export * from './listen.js';
export * from './ops-server.js';
