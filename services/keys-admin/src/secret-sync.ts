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
import { SecretWatch, watchSecrets } from './secret-watch.js';

export interface SecretSyncConfig {
  namespace: string;
  /** Label selector of the Secrets to mirror. Default `studioline.io/api-key`. */
  labelSelector: string;
  /** Label selector of the Secrets that are SIP extensions (sip-secret-sync.ts). Default `studioline.io/sip-extension`. */
  sipLabelSelector?: string;
  /** Wait this long before watching again after the watch failed (ms). Default 1000. */
  restartDelayMs: number;
}

export const SECRET_SYNC_DEFAULTS = { labelSelector: 'studioline.io/api-key', restartDelayMs: 1000 };

export const source = (s: V1Secret) => `k8s:${s.metadata?.namespace}/${s.metadata?.name}`;

export class SecretSync {
  private watch?: SecretWatch;
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
    const { namespace, labelSelector } = this.config;
    this.watch = await watchSecrets(
      this.kubeConfig,
      this.config,
      {
        upsert: (s) => {
          const wanted = this.mirrored(s);
          return wanted ? this.keys.sync(wanted) : Promise.resolve();
        },
        deleted: (s) => this.keys.revokeBySource(source(s), 'k8s-secret-sync'),
        // What is listed is mirrored; what was mirrored but is no longer listed was deleted.
        resync: (items) => this.keys.resync(`k8s:${namespace}/`, items.map((s) => this.mirrored(s)).filter((w): w is MirroredKey => w !== undefined), 'k8s-secret-sync'),
      },
      this.logger,
    );
    void this.watch.synced.then(this.markSynced);
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
    await this.watch?.stop();
  }
}
