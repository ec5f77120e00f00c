import { Counter, Histogram, Registry } from 'prom-client';
import { stateGauge } from '@studioline/server-kit';

/** Every metric of the gateway. Labels stay low-cardinality: never a line id, a key or an address. */
export function createGatewayMetrics(registry: Registry, state: { connections(): number; peers(): number; lines(): number; liveRelays(): number; storeUp(): boolean; sendQueueMax(): number }) {
  return {
    connections: stateGauge(registry, 'studioline_gateway_connections', 'Open websocket connections', state.connections),
    peers: stateGauge(registry, 'studioline_gateway_peers', 'Peers joined to a line', state.peers),
    lines: stateGauge(registry, 'studioline_gateway_lines', 'Lines with at least one peer on this gateway', state.lines),
    liveRelays: stateGauge(registry, 'studioline_gateway_live_relays', 'Relays this gateway sees alive', state.liveRelays),
    storeUp: stateGauge(registry, 'studioline_gateway_store_up', '1 when the store (Redis) answers, else 0', () => (state.storeUp() ? 1 : 0)),
    // What a slow reader costs the gateway: its socket's unsent bytes, capped by SLOW_READER_BYTES
    // (plus the one frame that crossed it); the kernel's socket buffers come on top of this.
    sendQueueMax: stateGauge(registry, 'studioline_gateway_send_queue_max_bytes', 'Largest unsent data held for one peer (bytes), at scrape time', state.sendQueueMax),
    connectionsTotal: new Counter({ name: 'studioline_gateway_connections_total', help: 'Websocket connections accepted', registers: [registry] }),
    upgradesRefused: new Counter({
      name: 'studioline_gateway_upgrades_refused_total',
      help: 'Websocket upgrades refused before a socket opened, by reason (bad_origin, too_many_attempts, too_many_sockets, too_many_unauthenticated, unavailable, draining, not_found)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    closes: new Counter({
      name: 'studioline_gateway_refusals_total',
      help: 'Connections closed by the gateway, by error code (unauthorized, key_revoked, key_expired, line_full, key_peer_limit, key_line_limit, key_mobile_only, message_too_big, ...)',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    authFailures: new Counter({
      name: 'studioline_gateway_auth_failures_total',
      help: 'Failed authentications, by reason (unknown, revoked, expired, rate_limited)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    keyChecksWaited: new Counter({
      name: 'studioline_gateway_key_checks_waited_total',
      help: 'Key checks that waited for a place: the failed attempts plus the checks in flight of their address had reached AUTH_FAIL_LIMIT',
      registers: [registry],
    }),
    keyCache: new Counter({ name: 'studioline_gateway_key_cache_total', help: 'Key lookups by result (hit, miss)', labelNames: ['result'] as const, registers: [registry] }),
    framesIn: new Counter({ name: 'studioline_gateway_frames_in_total', help: 'Audio frames received from peers', registers: [registry] }),
    bytesIn: new Counter({ name: 'studioline_gateway_bytes_in_total', help: 'Bytes of audio frames received from peers', registers: [registry] }),
    framesOut: new Counter({ name: 'studioline_gateway_frames_out_total', help: 'Audio frames sent to peers', registers: [registry] }),
    bytesOut: new Counter({ name: 'studioline_gateway_bytes_out_total', help: 'Bytes of audio frames sent to peers', registers: [registry] }),
    drops: new Counter({
      name: 'studioline_gateway_frame_drops_total',
      help: 'Messages dropped, by reason (over_budget, malformed, wrong_layer, compact_too_big, compact_over_budget, not_joined, no_route, bus_down, slow_reader, unknown_conn, not_allowed: text the protocol does not allow)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    layerSwitches: new Counter({
      name: 'studioline_gateway_layer_switches_total',
      help: 'Receivers stepped down a layer because their link queued the audio (reason congested) or back up after a calm spell (calm), by direction (down, up) and reason',
      labelNames: ['direction', 'reason'] as const,
      registers: [registry],
    }),
    budgetExceeded: new Counter({
      name: 'studioline_gateway_budget_exceeded_total',
      help: 'Frames over the per-peer bandwidth budget, by direction (in, out)',
      labelNames: ['direction'] as const,
      registers: [registry],
    }),
    peerBitrate: new Histogram({
      name: 'studioline_gateway_peer_bitrate_bps',
      help: 'Audio bitrate of each joined peer, observed every second: in (what it sent, before the budget) and out (what it was sent)',
      labelNames: ['direction'] as const,
      buckets: [250e3, 500e3, 1e6, 2e6, 3e6, 3.5e6, 4e6, 5e6, 6e6, 7e6, 7.5e6, 8e6, 10e6, 15e6],
      registers: [registry],
    }),
    hopLatency: new Histogram({
      name: 'studioline_relay_hop_latency_seconds',
      help: 'Server-added latency of an audio frame: from the gateway it entered, through the bus and the relay, to the gateway that delivers it',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers: [registry],
    }),
    rehomes: new Counter({ name: 'studioline_gateway_line_rehomes_total', help: 'Lines moved to another relay', registers: [registry] }),
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
