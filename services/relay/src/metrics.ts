import { Counter, Registry } from 'prom-client';
import { stateGauge } from '@studioline/server-kit';

/** Every metric of the relay. Labels stay low-cardinality: never a line id, a key or an address. */
export function createRelayMetrics(registry: Registry, state: { lines(): number; members(): number }) {
  return {
    lines: stateGauge(registry, 'studioline_relay_lines', 'Lines owned by this relay', state.lines),
    members: stateGauge(registry, 'studioline_relay_members', 'Peers on the lines of this relay', state.members),
    framesIn: new Counter({ name: 'studioline_relay_frames_in_total', help: 'Audio envelopes received from gateways', registers: [registry] }),
    framesOut: new Counter({ name: 'studioline_relay_frames_out_total', help: 'Audio envelopes published to gateways (one per destination gateway)', registers: [registry] }),
    bytesOut: new Counter({ name: 'studioline_relay_bytes_out_total', help: 'Bytes of audio envelopes published to gateways', registers: [registry] }),
    drops: new Counter({
      name: 'studioline_relay_frame_drops_total',
      help: 'Audio frames the relay did not forward, by reason (unknown_member, not_loudest, no_layer, bus_down, malformed)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    speakerChanges: new Counter({
      name: 'studioline_relay_speaker_changes_total',
      help: 'Changes of the speakers forwarded on group lines (a seat taken, given up or won by a louder voice), by layer (full, compact)',
      labelNames: ['layer'] as const,
      registers: [registry],
    }),
    ceilingChanges: new Counter({
      name: 'studioline_relay_ceiling_changes_total',
      help: 'Receivers whose gateway stepped them down a layer or back up (the routes of their line were rebuilt)',
      registers: [registry],
    }),
    joinsRefused: new Counter({ name: 'studioline_relay_joins_refused_total', help: 'Joins refused, by reason (line_full, duplicate_sender)', labelNames: ['reason'] as const, registers: [registry] }),
  };
}

export type RelayMetrics = ReturnType<typeof createRelayMetrics>;
