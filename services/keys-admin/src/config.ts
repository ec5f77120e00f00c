import { existsSync, readFileSync } from 'node:fs';
import { ConfigError, DEFAULT_SIP_REALM, Env, envBool, envInt, envStr, sipRealmProblem } from '@studioline/server-kit';
import { SECRET_SYNC_DEFAULTS, SecretSyncConfig } from './secret-sync.js';
import { SIP_SECRET_SELECTOR } from './sip-secret-sync.js';

export interface KeysAdminConfig {
  /** Address of the admin API (ADMIN_HOST). Default 127.0.0.1: expose it deliberately. */
  host: string;
  /** Port (ADMIN_PORT); 0 picks a free one. Default 7778. */
  port: number;
  /** Bearer token for every /v1 request (ADMIN_TOKEN). Required. */
  adminToken: string;
  /**
   * Mirror labelled Kubernetes Secrets into keys (SECRET_SYNC=true; SECRET_SYNC_NAMESPACE, default the
   * pod's namespace; SECRET_SYNC_SELECTOR, default studioline.io/api-key), and as many into SIP
   * extensions (SIP_SECRET_SYNC_SELECTOR, default studioline.io/sip-extension). Off by default.
   */
  secretSync?: SecretSyncConfig;
  /**
   * The digest realm of SIP extensions (SIP_REALM), the SIP bridge's: an extension's password is
   * stored as its digest for this realm. Default "studioline" (DEFAULT_SIP_REALM).
   */
  sipRealm?: string;
}

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export const MIN_ADMIN_TOKEN_LENGTH = 16;

export function keysAdminConfigFromEnv(env: Env, fallbackToken?: string): KeysAdminConfig {
  const adminToken = envStr(env, 'ADMIN_TOKEN') ?? fallbackToken;
  if (!adminToken) throw new ConfigError('ADMIN_TOKEN is required: the bearer token of the keys admin API');
  if (adminToken.length < MIN_ADMIN_TOKEN_LENGTH) throw new ConfigError(`ADMIN_TOKEN must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`);
  let secretSync: SecretSyncConfig | undefined;
  if (envBool(env, 'SECRET_SYNC', false)) {
    const namespace =
      envStr(env, 'SECRET_SYNC_NAMESPACE') ?? envStr(env, 'POD_NAMESPACE') ?? (existsSync(SERVICE_ACCOUNT_NAMESPACE) ? readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim() : undefined);
    if (!namespace) throw new ConfigError('SECRET_SYNC needs a namespace: set SECRET_SYNC_NAMESPACE (or run in a pod)');
    secretSync = {
      ...SECRET_SYNC_DEFAULTS,
      namespace,
      labelSelector: envStr(env, 'SECRET_SYNC_SELECTOR', SECRET_SYNC_DEFAULTS.labelSelector),
      sipLabelSelector: envStr(env, 'SIP_SECRET_SYNC_SELECTOR', SIP_SECRET_SELECTOR),
    };
  }
  const sipRealm = envStr(env, 'SIP_REALM', DEFAULT_SIP_REALM);
  const realmProblem = sipRealmProblem(sipRealm);
  if (realmProblem) throw new ConfigError(realmProblem);
  return {
    sipRealm,
    host: envStr(env, 'ADMIN_HOST', '127.0.0.1'),
    port: envInt(env, 'ADMIN_PORT', 7778, { min: 0, max: 65535 }),
    adminToken,
    secretSync,
  };
}
