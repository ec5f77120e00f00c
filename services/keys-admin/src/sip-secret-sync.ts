/**
 * Mirrors labelled Kubernetes Secrets into SIP extensions, as secret-sync.ts does for API keys: a
 * Secret labelled `studioline.io/sip-extension` with a data field `password` and the annotations
 * `studioline.io/line` (the line number the extension dials; required) and optionally
 * `studioline.io/extension` (default: the Secret's name) and `studioline.io/name` is an extension.
 * Creating it creates the extension, changing it changes the extension (a new password holds from
 * the phone's next request), deleting it deletes it. Only the password's digest (HA1) is stored.
 * A Secret naming an extension made through the API is not mirrored (a warning says which): the
 * API's extension is not taken over.
 */
import type { KubeConfig, V1Secret } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { Logger, SipAccountError, checkSipAccount, sipDigestHa1 } from '@studioline/server-kit';
import { source } from './secret-sync.js';
import { SecretWatch, watchSecrets } from './secret-watch.js';
import { MirroredExtension, SipExtensionService } from './sip-extension-service.js';

export const SIP_SECRET_SELECTOR = 'studioline.io/sip-extension';

export class SipSecretSync {
  private watch?: SecretWatch;

  constructor(
    private readonly kubeConfig: KubeConfig,
    private readonly config: { namespace: string; labelSelector: string; restartDelayMs: number },
    private readonly extensions: SipExtensionService,
    private readonly logger: Logger,
  ) {}

  get synced(): Promise<void> {
    return this.watch?.synced ?? Promise.resolve();
  }

  async start(): Promise<void> {
    const { namespace } = this.config;
    const prefix = `k8s:${namespace}/`;
    const resync = async (items: V1Secret[]) => {
      const conflicts = await this.extensions.resync(prefix, items.map((s) => this.mirrored(s)).filter((m): m is MirroredExtension => m !== undefined));
      for (const extension of conflicts) this.logger.warn({ extension }, 'a labelled Secret names a SIP extension made through the API; not mirrored');
    };
    this.watch = await watchSecrets(
      this.kubeConfig,
      this.config,
      {
        // One Secret changed: the namespace's whole list is resynced (a few extensions; it keeps
        // one path for create, change and the API-conflict rule).
        upsert: async () => resync(await this.list()),
        deleted: async () => resync(await this.list()),
        resync,
      },
      this.logger,
    );
    this.logger.info({ namespace, labelSelector: this.config.labelSelector }, 'mirroring SIP extensions from Kubernetes Secrets');
  }

  private async list(): Promise<V1Secret[]> {
    const k8s = await import('@kubernetes/client-node');
    const api = this.kubeConfig.makeApiClient(k8s.CoreV1Api);
    return (await api.listNamespacedSecret({ namespace: this.config.namespace, labelSelector: this.config.labelSelector })).items;
  }

  /** The extension a labelled Secret describes; undefined (and a warning) when it cannot be read. */
  private mirrored(secret: V1Secret): MirroredExtension | undefined {
    const annotations = secret.metadata?.annotations ?? {};
    const extension = annotations['studioline.io/extension'] ?? secret.metadata?.name ?? '';
    const line = annotations['studioline.io/line'];
    const raw = secret.data?.password;
    const password = raw ? Buffer.from(raw, 'base64').toString('utf8').trim() : undefined;
    try {
      if (!password) throw new SipAccountError('it has no `password` field');
      checkSipAccount({ extension, line, password });
    } catch (err) {
      if (!(err instanceof SipAccountError)) throw err;
      this.logger.warn({ secret: secret.metadata?.name, err: err.message }, 'labelled SIP extension Secret cannot be read; not mirrored');
      return undefined;
    }
    return { source: source(secret), extension, line: line as string, name: annotations['studioline.io/name'] ?? extension, ha1: sipDigestHa1(extension, this.extensions.realm, password) };
  }

  async stop(): Promise<void> {
    await this.watch?.stop();
  }
}
