/**
 * keys-admin: the API-key service. Its REST API (admin-api.ts) on ADMIN_HOST:ADMIN_PORT, and the
 * optional mirror of labelled Kubernetes Secrets (secret-sync.ts).
 */
import { Server, createServer } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { Backend, DEFAULT_SIP_REALM, Logger, Registry, listen, once, runAll, serverUrl } from '@studioline/server-kit';
import { createAdminApi } from './admin-api.js';
import { KeysAdminConfig } from './config.js';
import { KeyService } from './key-service.js';
import { SipExtensionService } from './sip-extension-service.js';
import { createKeysAdminMetrics } from './metrics.js';
import { SecretSync } from './secret-sync.js';
import { SIP_SECRET_SELECTOR, SipSecretSync } from './sip-secret-sync.js';

export interface KeysAdminDeps {
  backend: Backend;
  logger: Logger;
  registry?: Registry;
  /** How to reach the Kubernetes API for the Secret mirror; default: in-cluster or ~/.kube/config. */
  kubeConfig?: KubeConfig;
}

export class KeysAdminService {
  readonly keys: KeyService;
  readonly sip: SipExtensionService;
  private readonly server: Server;
  private secretSync?: SecretSync;
  private sipSecretSync?: SipSecretSync;

  private constructor(
    private readonly config: KeysAdminConfig,
    private readonly deps: KeysAdminDeps,
  ) {
    this.keys = new KeyService(deps.backend);
    this.sip = new SipExtensionService(deps.backend, config.sipRealm ?? DEFAULT_SIP_REALM);
    // Without a shared registry (a test's service alone), the refusal counters still need a home.
    const metrics = createKeysAdminMetrics(deps.registry ?? new Registry());
    const app = createAdminApi({
      adminToken: config.adminToken,
      keys: this.keys,
      sip: this.sip,
      logger: deps.logger,
      metrics,
      registry: deps.registry,
      readiness: () => {
        const ready = deps.backend.isReady();
        return { ready, store: ready ? 'up' : 'down' };
      },
    });
    this.server = createServer(app);
  }

  static create(config: KeysAdminConfig, deps: KeysAdminDeps): KeysAdminService {
    return new KeysAdminService(config, deps);
  }

  async start(): Promise<void> {
    await listen(this.server, this.config.port, this.config.host, { service: 'keys admin API', portVariable: 'ADMIN_PORT', hostVariable: 'ADMIN_HOST' });
    this.deps.logger.info({ address: this.url }, 'keys admin listening');
    if (this.config.secretSync) {
      let kubeConfig = this.deps.kubeConfig;
      if (!kubeConfig) {
        const k8s = await import('@kubernetes/client-node');
        kubeConfig = new k8s.KubeConfig();
        kubeConfig.loadFromDefault();
      }
      this.secretSync = new SecretSync(kubeConfig, this.config.secretSync, this.keys, this.deps.logger.child({ component: 'secret-sync' }));
      await this.secretSync.start();
      const sip = { ...this.config.secretSync, labelSelector: this.config.secretSync.sipLabelSelector ?? SIP_SECRET_SELECTOR };
      this.sipSecretSync = new SipSecretSync(kubeConfig, sip, this.sip, this.deps.logger.child({ component: 'sip-secret-sync' }));
      await this.sipSecretSync.start();
    }
  }

  /** Resolves once the Secret mirrors (API keys, SIP extensions) have mirrored their first full list (at once when off). */
  get secretsSynced(): Promise<void> {
    return Promise.all([this.secretSync?.synced, this.sipSecretSync?.synced]).then(() => undefined);
  }

  get url(): string {
    return serverUrl(this.server);
  }

  readonly destroy = once(async () => {
    await runAll([
      () => this.secretSync?.stop(),
      () => this.sipSecretSync?.stop(),
      () => {
        this.server.closeAllConnections();
        return new Promise<void>((resolve) => this.server.close(() => resolve()));
      },
    ]);
  });
}
