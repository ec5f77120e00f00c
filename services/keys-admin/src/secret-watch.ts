/**
 * A list-and-watch (informer) of the Secrets with one label in one namespace, for the mirrors of
 * API keys (secret-sync.ts) and SIP extensions (sip-secret-sync.ts). Every (re)connection resyncs
 * from a full list: the watch may resume past changes it never reported, so the mirror is handed
 * the whole list and removes what is no longer in it. A dropped watch is started again.
 */
import type { KubeConfig, V1Secret } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { Logger } from '@studioline/server-kit';

export interface SecretHandlers {
  /** A Secret added or changed. */
  upsert(secret: V1Secret): Promise<unknown>;
  deleted(secret: V1Secret): Promise<unknown>;
  /** Every Secret listed now (after each (re)connection). */
  resync(secrets: V1Secret[]): Promise<unknown>;
}

export interface SecretWatch {
  /** Resolves after the first full list has been handed over. */
  readonly synced: Promise<void>;
  stop(): Promise<void>;
}

export async function watchSecrets(
  kubeConfig: KubeConfig,
  options: { namespace: string; labelSelector: string; restartDelayMs: number },
  handlers: SecretHandlers,
  logger: Logger,
): Promise<SecretWatch> {
  const k8s = await import('@kubernetes/client-node');
  const api = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const { namespace, labelSelector } = options;
  let stopped = false;
  let markSynced!: () => void;
  const synced = new Promise<void>((resolve) => (markSynced = resolve));
  const informer = k8s.makeInformer(kubeConfig, `/api/v1/namespaces/${namespace}/secrets`, () => api.listNamespacedSecret({ namespace, labelSelector }), labelSelector);
  const handle = (what: string, fn: () => Promise<unknown>) => fn().catch((err: Error) => logger.error({ err: err.message, what }, 'secret sync failed; the next resync retries'));
  informer.on('add', (s: V1Secret) => void handle('add', () => handlers.upsert(s)));
  informer.on('update', (s: V1Secret) => void handle('update', () => handlers.upsert(s)));
  informer.on('delete', (s: V1Secret) => void handle('delete', () => handlers.deleted(s)));
  informer.on('connect', () => {
    void handle('resync', async () => {
      await handlers.resync((await api.listNamespacedSecret({ namespace, labelSelector })).items);
      markSynced();
    });
  });
  informer.on('error', (err: Error) => {
    if (stopped) return;
    logger.warn({ err: err?.message }, 'secret watch dropped; watching again');
    setTimeout(() => !stopped && void informer.start().catch(() => undefined), options.restartDelayMs);
  });
  await informer.start();
  return {
    synced,
    async stop() {
      stopped = true;
      await informer.stop();
    },
  };
}
