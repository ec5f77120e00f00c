/** An embedded Studioline in the test's own process, on the in-memory backend, on free ports. */
import { PassThrough } from 'node:stream';
import { GATEWAY_DEFAULTS, GatewayConfig } from '@studioline/gateway';
import { RELAY_DEFAULTS, RelayConfig } from '@studioline/relay';
import { Studioline, defaultWebRoot } from '@studioline/cli';
import { createLogger, createMemoryBackend, generateApiKey, hashApiKey } from '@studioline/server-kit';

export interface Embedded {
  app: Studioline;
  url: string;
  apiKey: string;
  adminToken: string;
  adminUrl: string;
  /** Everything logged so far. */
  logs(): string;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export async function startEmbedded(gateway: Partial<GatewayConfig> = {}, relay: Partial<RelayConfig> = {}): Promise<Embedded> {
  const apiKey = generateApiKey();
  const adminToken = 'test-admin-token-' + generateApiKey().slice(0, 16);
  let logText = '';
  const stream = new PassThrough();
  stream.on('data', (c: Buffer) => (logText += c.toString()));
  const app = new Studioline({
    roles: ['gateway', 'relay', 'keys-admin'],
    backend: createMemoryBackend(),
    logger: createLogger('studioline', { destination: stream }),
    gateway: { ...GATEWAY_DEFAULTS, port: 0, staticKeyHashes: [hashApiKey(apiKey)], drainDelayMs: 0, webRoot: defaultWebRoot(), ...gateway },
    relay: { ...RELAY_DEFAULTS, ...relay },
    keysAdmin: { host: '127.0.0.1', port: 0, adminToken },
  });
  await app.start();
  return {
    app,
    url: app.gateway!.url,
    apiKey,
    adminToken,
    adminUrl: app.keysAdmin!.url,
    logs: () => logText,
    metrics: () => app.registry.metrics(),
    stop: () => app.destroy(),
  };
}

/** The value of one metric sample in Prometheus text, e.g. metricValue(text, 'x_total', { reason: 'y' }). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    if (want.every((w) => (m[2] ?? '').includes(w))) {
      total += Number(m[3]);
      found = true;
    }
  }
  return found ? total : 0;
}
