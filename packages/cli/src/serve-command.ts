import { gatewayConfigFromEnv } from '@studioline/gateway';
import { keysAdminConfigFromEnv } from '@studioline/keys-admin';
import { relayConfigFromEnv } from '@studioline/relay';
import { ConfigError, Env, createLogger, createMemoryBackend, createRedisBackend, destroyOnSignal, envInt, envList, envStr, hashApiKey } from '@studioline/server-kit';
import { localAdminToken, localApiKey, studiolineHome } from './home.js';
import { defaultWebRoot } from './studioline.js';
import { ROLES, Role, Studioline } from './studioline.js';

export interface ServeOptions {
  role: 'all' | Role;
  port?: number;
  host?: string;
}

/**
 * `studioline serve`: all roles in one process (the default), or one role (what containers run).
 * Configuration comes from the environment; --port and --host override PORT and HOST.
 */
export async function serve(options: ServeOptions, processEnv: NodeJS.ProcessEnv): Promise<Studioline> {
  const env: Env = { ...processEnv };
  if (options.port !== undefined) env.PORT = String(options.port);
  if (options.host !== undefined) env.HOST = options.host;
  const roles: Role[] = options.role === 'all' ? [...ROLES] : [options.role];
  const embedded = options.role === 'all';
  const sentinelNodes = envList(env, 'REDIS_SENTINELS');
  const clusterNodes = envList(env, 'REDIS_CLUSTER_NODES');
  const redisUrl = envStr(env, 'REDIS_URL') ?? (sentinelNodes.length || clusterNodes.length ? 'redis://' : undefined);
  if (!embedded && !redisUrl) throw new ConfigError(`--role ${options.role} runs one service of a deployment and needs REDIS_URL (or REDIS_SENTINELS, or REDIS_CLUSTER_NODES)`);
  const logger = createLogger('studioline', { level: envStr(env, 'LOG_LEVEL', 'info') });

  const home = studiolineHome(processEnv);
  let apiKeyFile: string | undefined;
  if (embedded && !env.APIKEY) {
    const key = localApiKey(home);
    env.APIKEY = key.value;
    apiKeyFile = key.path;
  }
  let adminTokenFile: string | undefined;
  if (embedded && !env.ADMIN_TOKEN) {
    const token = localAdminToken(home);
    env.ADMIN_TOKEN = token.value;
    adminTokenFile = token.path;
  }

  env.WEB_ROOT ??= defaultWebRoot();
  const backend = redisUrl
    ? createRedisBackend({
        url: redisUrl,
        sentinels: sentinelNodes.length ? { nodes: sentinelNodes, masterName: envStr(env, 'REDIS_SENTINEL_MASTER', 'mymaster') } : undefined,
        clusterNodes: clusterNodes.length ? clusterNodes : undefined,
        prefix: envStr(env, 'REDIS_PREFIX', 'studioline:'),
        logger: logger.child({ component: 'redis' }),
      })
    : createMemoryBackend();
  const app = new Studioline({
    roles,
    backend,
    logger,
    gateway: roles.includes('gateway') ? gatewayConfigFromEnv(env, hashApiKey) : undefined,
    relay: roles.includes('relay') ? relayConfigFromEnv(env) : undefined,
    keysAdmin: roles.includes('keys-admin') ? keysAdminConfigFromEnv(env) : undefined,
    opsPort: envInt(env, 'METRICS_PORT', 9090, { min: 0, max: 65535 }),
    opsHost: envStr(env, 'HOST', '127.0.0.1'),
  });
  await app.start();
  destroyOnSignal(app, logger);

  if (embedded && app.gateway) {
    const url = app.gateway.config.publicUrl ?? app.gateway.url;
    // The share link holds the API key: printed only to a person's terminal, never into a log.
    const key = process.stderr.isTTY ? encodeURIComponent(env.APIKEY as string) : '<APIKEY>';
    const lines = [
      '',
      `Studioline is running at ${url} (gateway + relay + keys-admin in one process, ${redisUrl ? 'on Redis' : 'in memory'})`,
      `  open in a browser and share:  ${url}/#apikey=${key}&generate_leaf`,
      `  or call from a terminal:      studioline peer "$(studioline link ${url})" --tone 440`,
      apiKeyFile ? `  API key file:                 ${apiKeyFile}` : '  API key:                      from APIKEY',
      `  keys admin API:               ${app.keysAdmin?.url}${adminTokenFile ? ` (token in ${adminTokenFile})` : ''}`,
      '',
    ];
    process.stderr.write(lines.join('\n') + '\n');
  }
  return app;
}
