/**
 * Mirrors labelled Kubernetes Secrets into the key store, so that API keys can be managed
 * declaratively (GitOps): a Secret with the label `studioline.io/api-key` and a data field `apikey`
 * is a key. Creating it creates the key, changing `apikey` rotates it (the old secret stops working
 * at once), deleting it revokes it. A list-and-watch (informer) keeps it in step and re-lists after
 * every reconnect, revoking what disappeared meanwhile.
 *
 * Optional annotations: `studioline.io/name` (the key's name), `studioline.io/expires-at` (ISO time),
 * and the key's limits: `studioline.io/max-peers`, `studioline.io/max-lines` (whole numbers),
 * `studioline.io/mobile-only` (true/false), `studioline.io/max-layer` (full/compact). A Secret whose
 * limits cannot be read is not mirrored (a warning names the annotation): a key must never run
 * without the limits its owner wrote.
 */
import type { KubeConfig, V1Secret } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { KeyLimits, KeyLimitsError, Logger, hashApiKey, parseKeyLimits } from '@studioline/server-kit';
import { KeyService, MirroredKey } from './key-service.js';

export interface SecretSyncConfig {
  namespace: string;
  /** Label selector of the Secrets to mirror. Default `studioline.io/api-key`. */
  labelSelector: string;
  /** Wait this long before watching again after the watch failed (ms). Default 1000. */
  restartDelayMs: number;
}

export const SECRET_SYNC_DEFAULTS = { labelSelector: 'studioline.io/api-key', restartDelayMs: 1000 };

const source = (s: V1Secret) => `k8s:${s.metadata?.namespace}/${s.metadata?.name}`;

export class SecretSync {
  private informer?: { start(): Promise<void>; stop(): Promise<void> };
  private stopped = false;
  /** Resolves after the first full list has been mirrored. */
  readonly synced: Promise<void>;
  private markSynced!: () => void;

  constructor(
    private readonly kubeConfig: KubeConfig,
    private readonly config: SecretSyncConfig,
    private readonly keys: KeyService,
    private readonly logger: Logger,
  ) {
    this.synced = new Promise((resolve) => (this.markSynced = resolve));
  }

  async start(): Promise<void> {
    const k8s = await import('@kubernetes/client-node');
    const api = this.kubeConfig.makeApiClient(k8s.CoreV1Api);
    const { namespace, labelSelector } = this.config;
    const informer = k8s.makeInformer(
      this.kubeConfig,
      `/api/v1/namespaces/${namespace}/secrets`,
      () => api.listNamespacedSecret({ namespace, labelSelector }),
      labelSelector,
    );
    const handle = (what: string, fn: () => Promise<unknown>) =>
      fn().catch((err: Error) => this.logger.error({ err: err.message, what }, 'secret sync failed; the next resync retries'));
    const sync = (s: V1Secret) => {
      const wanted = this.mirrored(s);
      return wanted ? this.keys.sync(wanted) : Promise.resolve();
    };
    informer.on('add', (s: V1Secret) => void handle('add', () => sync(s)));
    informer.on('update', (s: V1Secret) => void handle('update', () => sync(s)));
    informer.on('delete', (s: V1Secret) => void handle('delete', () => this.keys.revokeBySource(source(s), 'k8s-secret-sync')));
    informer.on('connect', () => {
      // Every (re)connection resyncs from a full list: the watch may resume past changes it never
      // reported. What is listed is mirrored; what was mirrored but is no longer listed was deleted.
      void handle('resync', async () => {
        const items = (await api.listNamespacedSecret({ namespace, labelSelector })).items;
        const wanted = items.map((s) => this.mirrored(s)).filter((w): w is MirroredKey => w !== undefined);
        await this.keys.resync(`k8s:${namespace}/`, wanted, 'k8s-secret-sync');
        this.markSynced();
      });
    });
    informer.on('error', (err: Error) => {
      if (this.stopped) return;
      this.logger.warn({ err: err?.message }, 'secret watch dropped; watching again');
      setTimeout(() => !this.stopped && void informer.start().catch(() => undefined), this.config.restartDelayMs);
    });
    this.informer = informer;
    await informer.start();
    this.logger.info({ namespace, labelSelector }, 'mirroring API keys from Kubernetes Secrets');
  }

  /** The key a labelled Secret describes; undefined (and a warning) when it has no `apikey`. */
  private mirrored(secret: V1Secret): MirroredKey | undefined {
    const raw = secret.data?.apikey;
    if (!raw) {
      this.logger.warn({ secret: secret.metadata?.name }, 'labelled Secret has no `apikey` field; ignored');
      return undefined;
    }
    const value = Buffer.from(raw, 'base64').toString('utf8').trim();
    const annotations = secret.metadata?.annotations ?? {};
    const expires = annotations['studioline.io/expires-at'] ? Date.parse(annotations['studioline.io/expires-at']) : undefined;
    let limits: KeyLimits;
    try {
      limits = parseKeyLimits({
        maxPeers: annotations['studioline.io/max-peers'],
        maxLines: annotations['studioline.io/max-lines'],
        mobileOnly: annotations['studioline.io/mobile-only'],
        maxLayer: annotations['studioline.io/max-layer'],
      });
    } catch (err) {
      if (!(err instanceof KeyLimitsError)) throw err;
      this.logger.warn({ secret: secret.metadata?.name, err: err.message }, 'labelled Secret has limits that cannot be read; not mirrored');
      return undefined;
    }
    return {
      source: source(secret),
      name: annotations['studioline.io/name'] ?? secret.metadata?.name ?? 'kubernetes',
      hash: hashApiKey(value),
      prefix: value.slice(0, 4),
      expiresAt: Number.isNaN(expires) ? undefined : expires,
      limits,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.informer?.stop();
  }
}
