import { Counter, Registry } from '@studioline/server-kit';

/** Every metric of keys-admin. Labels stay low-cardinality: never a key, a token or an address. */
export function createKeysAdminMetrics(registry: Registry) {
  return {
    refused: new Counter({
      name: 'studioline_keys_admin_requests_refused_total',
      help: 'Admin API requests refused before any work, by reason (unauthorized, too_large, bad_request, not_found)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
  };
}

export type KeysAdminMetrics = ReturnType<typeof createKeysAdminMetrics>;
