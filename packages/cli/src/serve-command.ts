import { existsSync } from 'node:fs';
import { gatewayConfigFromEnv } from '@studioline/gateway';
import { keysAdminConfigFromEnv } from '@studioline/keys-admin';
import { relayConfigFromEnv } from '@studioline/relay';
import {
  ConfigError,
  DEFAULT_METRICS_PORT,
  Env,
  apiKeyProblem,
  createLogger,
  createMemoryBackend,
  createRedisBackend,
  destroyOnSignal,
  envInt,
  envList,
  envStr,
  hashApiKey,
} from '@studioline/server-kit';
import { Command } from './command.js';
import { CliError } from './exit-codes.js';
import { localAdminToken, localApiKey, reachableUrl, studiolineHome, writeLocalServer } from './home.js';
import { ROLES, Role, Studioline, defaultWebRoot } from './studioline.js';

export interface ServeOptions {
  role: 'all' | Role;
  port?: number;
  host?: string;
}

/** How a person runs the command they are reading about: through npm in a checkout, else by name. */
function commandName(env: NodeJS.ProcessEnv): string {
  return env.npm_lifecycle_event || env.npm_command ? 'npx studioline' : 'studioline';
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
  for (const key of envList(env, 'APIKEY')) {
    const problem = apiKeyProblem(key);
    if (problem) throw new ConfigError(`APIKEY "${key.slice(0, 4)}…" is not usable: ${problem}`);
  }
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
  // Every setting is read before anything connects or listens: a bad one changes nothing.
  const gateway = roles.includes('gateway') ? gatewayConfigFromEnv(env, hashApiKey) : undefined;
  const relay = roles.includes('relay') ? relayConfigFromEnv(env) : undefined;
  const keysAdmin = roles.includes('keys-admin') ? keysAdminConfigFromEnv(env) : undefined;
  const opsPort = envInt(env, 'METRICS_PORT', DEFAULT_METRICS_PORT, { min: 0, max: 65535 });
  // Sentinel and Cluster deployments have replicas: key data waits for one by default (WAIT).
  const writeReplicas = envInt(env, 'REDIS_WRITE_REPLICAS', sentinelNodes.length || clusterNodes.length ? 1 : 0, { min: 0, max: 16 });
  const backend = redisUrl
    ? createRedisBackend({
        url: redisUrl,
        sentinels: sentinelNodes.length ? { nodes: sentinelNodes, masterName: envStr(env, 'REDIS_SENTINEL_MASTER', 'mymaster') } : undefined,
        clusterNodes: clusterNodes.length ? clusterNodes : undefined,
        // A Cluster needs a hash tag in the prefix (backend.ts): its default has one.
        prefix: envStr(env, 'REDIS_PREFIX', clusterNodes.length ? '{studioline}:' : 'studioline:'),
        writeReplicas,
        writeWaitMs: envInt(env, 'REDIS_WRITE_WAIT_MS', 1000, { min: 1, max: 60_000 }),
        logger: logger.child({ component: 'redis' }),
      })
    : createMemoryBackend();
  const app = new Studioline({
    roles,
    backend,
    logger,
    gateway,
    relay,
    keysAdmin,
    opsPort,
    opsHost: envStr(env, 'HOST', '127.0.0.1'),
  });
  await app.start();
  destroyOnSignal(app, logger);

  if (embedded && app.gateway) {
    // A wildcard listen address (0.0.0.0 in the image) is not an address to open: say 127.0.0.1.
    const listening = new URL(app.gateway.url);
    const url = app.gateway.config.publicUrl?.replace(/\/$/, '') ?? reachableUrl(listening.hostname.replace(/^\[|\]$/g, ''), listening.port);
    const adminUrl = app.keysAdmin && reachableUrl(new URL(app.keysAdmin.url).hostname.replace(/^\[|\]$/g, ''), new URL(app.keysAdmin.url).port);
    const forget = writeLocalServer(home, { url, adminUrl });
    process.once('exit', forget);
    const cmd = commandName(processEnv);
    // The share link holds the API key: printed only to a person's terminal, never into a log.
    const key = process.stderr.isTTY ? encodeURIComponent(env.APIKEY as string) : '<APIKEY>';
    const wildcard = !app.gateway.config.publicUrl && url !== app.gateway.url;
    const lines = [
      '',
      `Studioline is running at ${url} (gateway + relay + keys-admin in one process, ${redisUrl ? 'on Redis' : 'in memory'})`,
      `  open in a browser and share:  ${url}/#apikey=${key}&generate_leaf`,
      `  or call from two terminals:   ${cmd} link --out call.link`,
      `                                ${cmd} peer "$(cat call.link)" --tone 440     (and --tone 1000 in the other)`,
      apiKeyFile ? `  API key file:                 ${apiKeyFile}` : '  API key:                      from APIKEY',
      `  keys admin API:               ${adminUrl}${adminTokenFile ? ` (token in ${adminTokenFile})` : ''}`,
      ...(wildcard ? [`  listening on every address (${app.gateway.url}); set PUBLIC_URL to print the address others use`] : []),
      '',
    ];
    process.stderr.write(lines.join('\n') + '\n');
  }
  return app;
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run Studioline: gateway, relay and keys-admin in one process, or one role of a deployment',
  usage: '[options]',
  description: `Without --role: the gateway, a relay and keys-admin in one process, in memory (or on Redis when
REDIS_URL is set); on first start it makes an API key and an admin token in ~/.studioline/.
With --role: that one service of a deployment (needs REDIS_URL). Every setting is an environment
variable (README, "Configuration"); --port and --host override PORT and HOST. A port that cannot
be listened on ends the command at once with the setting to change (exit 2).`,
  options: {
    port: { type: 'string', value: 'N', description: 'gateway port, 0 for any free one (PORT; default 7777)' },
    host: { type: 'string', value: 'H', description: 'gateway address, 0.0.0.0 for every one (HOST; default 127.0.0.1)' },
    role: { type: 'string', value: 'ROLE', description: `run one service: ${ROLES.join(', ')}` },
  },
  positionals: { min: 0, max: 0, names: [] },
  examples: [
    ['npm start', 'the same as `studioline serve` after a build, in a checkout'],
    ['npx studioline serve --port 8080', 'everything in one process, on port 8080'],
    ['REDIS_URL=redis://127.0.0.1:6379 studioline serve --role relay', 'one relay of a deployment'],
  ],
  async run({ values }, env) {
    const role = (values.role ?? 'all') as 'all' | Role;
    if (role !== 'all' && !ROLES.includes(role)) throw new CliError(`--role must be one of ${ROLES.join(', ')}, got "${role}"`);
    const port = values.port === undefined ? undefined : Number(values.port);
    if (port !== undefined && !(values.port !== '' && Number.isInteger(port) && port >= 0 && port < 65536)) throw new CliError(`--port must be a port number (0-65535), got "${String(values.port)}"`);
    if (!existsSync(defaultWebRoot())) process.stderr.write('studioline serve: the web client is not built (npm run build); the gateway serves a placeholder page\n');
    await serve({ role, port, host: values.host as string | undefined }, env);
  },
};
