/**
 * Highly available Redis as production runs it, from real `redis-server` processes on loopback
 * ports (Debian's redis-server package; `redis-server --sentinel` is redis-sentinel):
 *   - Sentinel: a primary, two replicas and three Sentinels watching them;
 *   - Cluster: three primaries and three replicas, made with `redis-cli --cluster create`.
 * Durability as the chart's README asks of a production Redis: AOF on (appendonly yes,
 * appendfsync everysec). Timeouts are short (1 s to declare a node down) so failovers take
 * seconds, as the README recommends for calls. Every process is killed and its directory removed
 * by `stop()`.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { IN_CI } from './env.js';

/** undefined when redis-server and redis-cli are installed; otherwise the reason to skip (or throws under CI). */
export function requireRedisServer(): string | undefined {
  try {
    const version = execFileSync('redis-server', ['--version'], { encoding: 'utf8' });
    execFileSync('redis-cli', ['--version'], { stdio: 'ignore' });
    if (!/v=7\.[0-2]\./.test(version)) throw new Error(`redis-server must be 7.0-7.2 (BSD licensed), got: ${version.trim()}`);
    return undefined;
  } catch (err) {
    const reason = `redis-server/redis-cli 7.0-7.2 are needed (${(err as Error).message.split('\n')[0]}): install them with \`bash scripts/ci/ensure-redis.sh\``;
    if (IN_CI) throw new Error(`CI=true and ${reason}`);
    process.stderr.write(`\n!!! SKIPPING: ${reason}\n\n`);
    return reason;
  }
}

/** A loopback port free now (and, for a Cluster node, its bus port + 10000 too). */
async function freePort(withBusPort = false): Promise<number> {
  const probe = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(undefined));
      server.listen(port, '127.0.0.1', () => {
        const { port: got } = server.address() as { port: number };
        server.close(() => resolve(got));
      });
    });
  for (let i = 0; i < 50; i++) {
    const port = await probe(0);
    if (!port || (withBusPort && (port > 55_000 || !(await probe(port + 10_000))))) continue;
    return port;
  }
  throw new Error('no free loopback port');
}

export interface RedisNode {
  port: number;
  address: string;
  process: ChildProcess;
  /** Kills the process at once (SIGKILL: no goodbye to replicas or clients). */
  kill(): Promise<void>;
  /** Starts it again with the same settings and data (as Kubernetes restarts a pod). */
  restart(): void;
  client(): Redis;
}

const DURABLE = ['--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''];

function startNode(dir: string, port: number, args: string[], config?: string): RedisNode {
  const argv = config ? [config, '--sentinel'] : ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--daemonize', 'no', '--protected-mode', 'no', ...args];
  let log = '';
  let child!: ChildProcess;
  let exited!: Promise<void>;
  const spawnIt = () => {
    child = spawn('redis-server', argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
    child.stdout!.on('data', (c) => (log = (log + c).slice(-4000)));
    child.stderr!.on('data', (c) => (log = (log + c).slice(-4000)));
    exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  };
  spawnIt();
  const clients: Redis[] = [];
  return {
    port,
    address: `127.0.0.1:${port}`,
    get process() {
      return child;
    },
    async kill() {
      for (const c of clients.splice(0)) c.disconnect();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    restart() {
      if (child.exitCode === null && child.signalCode === null) throw new Error(`redis ${port} is still running`);
      spawnIt();
    },
    client() {
      // Retries for a few seconds: a node just spawned may not listen yet.
      const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: (n) => (n > 60 ? null : 50) });
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    },
    toString: () => `redis ${port}: ${log}`,
  } as RedisNode;
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A value of INFO's output. */
export async function info(client: Redis, section: string, field: string): Promise<string | undefined> {
  const text = await client.info(section);
  return text.match(new RegExp(`^${field}:(.*)\\r?$`, 'm'))?.[1]?.trim();
}

export interface SentinelSet {
  masterName: string;
  /** host:port of each Sentinel (REDIS_SENTINELS). */
  sentinels: string[];
  primary: RedisNode;
  replicas: RedisNode[];
  /** The address the Sentinels name as primary now. */
  currentPrimary(): Promise<string>;
  stop(): Promise<void>;
}

/** A primary, two replicas and three Sentinels (quorum 2, down after 1 s). */
export async function startSentinelSet(masterName = 'studioline'): Promise<SentinelSet> {
  const dir = mkdtempSync(join(tmpdir(), 'sl-redisha-sentinel-'));
  const nodes: RedisNode[] = [];
  try {
    const primaryPort = await freePort();
    const primary = startNode(dir, primaryPort, [...DURABLE, '--appenddirname', `aof-${primaryPort}`]);
    nodes.push(primary);
    const replicas: RedisNode[] = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const replica = startNode(dir, port, [...DURABLE, '--appenddirname', `aof-${port}`, '--replicaof', '127.0.0.1', String(primaryPort)]);
      nodes.push(replica);
      replicas.push(replica);
    }
    const p = primary.client();
    await until('both replicas in sync', async () => (await info(p, 'replication', 'connected_slaves')) === '2' && (await p.info('replication')).split('state=online').length === 3);
    const sentinels: RedisNode[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const config = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        config,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${primaryPort} 2`,
          `sentinel down-after-milliseconds ${masterName} 1000`,
          `sentinel failover-timeout ${masterName} 10000`,
          `sentinel parallel-syncs ${masterName} 2`,
          '',
        ].join('\n'),
      );
      const sentinel = startNode(dir, port, [], config);
      nodes.push(sentinel);
      sentinels.push(sentinel);
    }
    // A failover needs the Sentinels to know each other (they meet through the primary, every 2 s).
    for (const s of sentinels) {
      const c = s.client();
      await until('the Sentinels to know each other and both replicas', async () => {
        const master = (await c.call('SENTINEL', 'MASTER', masterName)) as string[];
        const field = (name: string) => master[master.indexOf(name) + 1];
        return field('num-other-sentinels') === '2' && field('num-slaves') === '2';
      });
    }
    const ask = sentinels[0].client();
    return {
      masterName,
      sentinels: sentinels.map((s) => s.address),
      primary,
      replicas,
      async currentPrimary() {
        const [host, port] = (await ask.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName)) as string[];
        return `${host}:${port}`;
      },
      async stop() {
        await Promise.all(nodes.map((n) => n.kill()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface ClusterNodeInfo {
  id: string;
  address: string;
  primary: boolean;
}

export interface RedisCluster {
  /** host:port of every node (REDIS_CLUSTER_NODES). */
  seeds: string[];
  nodes: RedisNode[];
  /** The node that serves `slot` as primary now, as the cluster says. */
  primaryOf(slot: number): Promise<RedisNode>;
  /** The primaries now. */
  primaries(): Promise<RedisNode[]>;
  /** The node's id (CLUSTER MYID). */
  idOf(node: RedisNode): Promise<string>;
  /**
   * Moves one slot to another primary the way `redis-cli --cluster reshard` does (IMPORTING,
   * MIGRATING, MIGRATE of its keys, SETSLOT NODE on both and on every primary).
   */
  moveSlot(slot: number, to: RedisNode): Promise<void>;
  /** Waits until every live node agrees the cluster is ok. */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

/** Three primaries and three replicas (cluster-node-timeout 1 s). */
export async function startCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'sl-redisha-cluster-'));
  const nodes: RedisNode[] = [];
  const alive = () => nodes.filter((n) => n.process.exitCode === null && n.process.signalCode === null);
  try {
    for (let i = 0; i < 6; i++) {
      const port = await freePort(true);
      nodes.push(
        startNode(dir, port, [
          ...DURABLE,
          '--appenddirname', `aof-${port}`,
          '--cluster-enabled', 'yes',
          '--cluster-config-file', `nodes-${port}.conf`,
          '--cluster-node-timeout', '1000',
        ]),
      );
    }
    for (const n of nodes) await until(`node ${n.port} to answer`, async () => (await n.client().ping()) === 'PONG', 10_000);
    execFileSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', '1', '--cluster-yes'], { stdio: 'ignore', timeout: 60_000 });
    const clients = new Map<RedisNode, Redis>();
    // A fresh client for a node restarted since (a killed node's clients end with it).
    const clientOf = (n: RedisNode) => {
      let c = clients.get(n);
      if (!c || c.status === 'end') clients.set(n, (c = n.client()));
      return c;
    };
    const ids = new Map<RedisNode, string>();
    const cluster: RedisCluster = {
      seeds: nodes.map((n) => n.address),
      nodes,
      async idOf(node) {
        if (!ids.has(node)) ids.set(node, (await clientOf(node).call('CLUSTER', 'MYID')) as string);
        return ids.get(node)!;
      },
      async primaryOf(slot) {
        for (const n of alive()) {
          try {
            const ranges = (await clientOf(n).call('CLUSTER', 'SLOTS')) as [number, number, [string, number, string]][];
            const range = ranges.find(([from, to]) => slot >= from && slot <= to);
            const port = range?.[2][1];
            const node = nodes.find((x) => x.port === port);
            if (node) return node;
          } catch {
            /* that node is down: ask another */
          }
        }
        throw new Error(`no node knows the primary of slot ${slot}`);
      },
      async primaries() {
        const out: RedisNode[] = [];
        for (const n of alive()) if ((await info(clientOf(n), 'replication', 'role')) === 'master') out.push(n);
        return out;
      },
      async moveSlot(slot, to) {
        const from = await cluster.primaryOf(slot);
        const [fromId, toId] = [await cluster.idOf(from), await cluster.idOf(to)];
        const [src, dst] = [clientOf(from), clientOf(to)];
        await dst.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId);
        await src.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId);
        for (;;) {
          const keys = (await src.call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
          if (!keys.length) break;
          await src.call('MIGRATE', '127.0.0.1', to.port, '', 0, 5000, 'KEYS', ...keys);
        }
        await dst.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId);
        await src.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId);
        for (const p of await cluster.primaries()) if (p !== from && p !== to) await clientOf(p).call('CLUSTER', 'SETSLOT', slot, 'NODE', toId);
      },
      async settled() {
        await until('the cluster to be ok on every live node', async () => {
          for (const n of alive()) if (!((await clientOf(n).call('CLUSTER', 'INFO')) as string).includes('cluster_state:ok')) return false;
          return true;
        });
      },
      async stop() {
        await Promise.all(nodes.map((n) => n.kill()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
    await cluster.settled();
    // Every replica attached and in sync (a failover needs one).
    await until('every replica in sync', async () => {
      let online = 0;
      for (const n of nodes) online += ((await clientOf(n).info('replication')).match(/state=online/g) ?? []).length;
      return online === 3;
    });
    return cluster;
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
