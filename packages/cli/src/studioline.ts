/**
 * The composition root: builds the services of the requested roles on one backend. `npm start`
 * runs all three roles in one process on the in-memory backend; containers run one role each on
 * Redis. The service code is the same in both; only the backend differs.
 */
import { dirname, join } from 'node:path';
import { GatewayConfig, GatewayService } from '@studioline/gateway';
import { KeysAdminConfig, KeysAdminService } from '@studioline/keys-admin';
import { RelayConfig, RelayService } from '@studioline/relay';
import { Backend, Logger, OpsServer, Registry, createRegistry, once, runAll, startOpsServer } from '@studioline/server-kit';

/** The web client built by the client package (npm run build). */
export function defaultWebRoot(): string {
  return join(dirname(require.resolve('@studioline/client/package.json')), 'dist', 'web');
}

export type Role = 'gateway' | 'relay' | 'keys-admin';
export const ROLES: readonly Role[] = ['gateway', 'relay', 'keys-admin'];

export interface StudiolineOptions {
  roles: readonly Role[];
  backend: Backend;
  logger: Logger;
  gateway?: GatewayConfig;
  relay?: RelayConfig;
  keysAdmin?: KeysAdminConfig;
  registry?: Registry;
  /**
   * Port for /healthz, /readyz and /metrics of a process that runs a relay without a gateway
   * (METRICS_PORT; 0: any free port). A gateway serves them on its own port.
   */
  opsPort?: number;
  opsHost?: string;
}

const STORE_WAIT_MS = 10_000;

export class Studioline {
  readonly registry: Registry;
  readonly relay?: RelayService;
  readonly gateway?: GatewayService;
  readonly keysAdmin?: KeysAdminService;

  constructor(private readonly options: StudiolineOptions) {
    const { backend, logger } = options;
    this.registry = options.registry ?? createRegistry();
    backend.registerMetrics(this.registry);
    const need = <T>(role: Role, config: T | undefined): T => {
      if (!config) throw new Error(`the ${role} role needs its configuration`);
      return config;
    };
    if (options.roles.includes('relay')) {
      this.relay = RelayService.create(need('relay', options.relay), { backend, logger: logger.child({ service: 'relay' }), registry: this.registry });
    }
    if (options.roles.includes('gateway')) {
      this.gateway = GatewayService.create(need('gateway', options.gateway), {
        backend,
        logger: logger.child({ service: 'gateway' }),
        registry: this.registry,
      });
    }
    if (options.roles.includes('keys-admin')) {
      this.keysAdmin = KeysAdminService.create(need('keys-admin', options.keysAdmin), { backend, logger: logger.child({ service: 'keys-admin' }), registry: this.registry });
    }
  }

  /**
   * Waits (up to 10 s) for the store, then starts the relay first, so that the gateway finds it at
   * once. A store that is still down is no reason to fail: services report not ready and recover.
   */
  async start(): Promise<void> {
    try {
      await this.startServices();
    } catch (err) {
      // Nothing stays half-started (a relay registered, a port held, Redis connected): the
      // process can end by itself with the error.
      await this.destroy().catch(() => undefined);
      throw err;
    }
  }

  private async startServices(): Promise<void> {
    if (!(await this.options.backend.waitReady(STORE_WAIT_MS))) {
      this.options.logger.warn({ waitedMs: STORE_WAIT_MS }, 'the store is not reachable yet; starting anyway, not ready');
    }
    await this.relay?.start();
    await this.keysAdmin?.start();
    await this.gateway?.start();
    // A relay alone has no HTTP server of its own: give it one for probes and scraping.
    if (this.relay && !this.gateway && this.options.opsPort !== undefined) {
      const backend = this.options.backend;
      this.opsServer = await startOpsServer({
        registry: this.registry,
        readiness: () => {
          const ready = backend.isReady();
          return { ready, store: ready ? 'up' : 'down' };
        },
        port: this.options.opsPort,
        host: this.options.opsHost ?? '127.0.0.1',
        setting: { service: 'relay health and metrics server', portVariable: 'METRICS_PORT', hostVariable: 'HOST' },
      });
      this.options.logger.info({ address: this.opsServer.url }, 'relay health and metrics listening');
    }
  }

  private opsServer?: OpsServer;

  /** Drains the gateway (calls move to other gateways), then stops the rest. Idempotent. */
  readonly destroy = once(async () => {
    await runAll([
      () => this.gateway?.destroy(),
      () => this.keysAdmin?.destroy(),
      () => this.relay?.destroy(),
      () => this.opsServer?.close(),
      () => this.options.backend.close(),
    ]);
  });
}
