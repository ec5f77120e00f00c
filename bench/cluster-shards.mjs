// npm run bench:shards: how the audio's Redis traffic divides over the shards of a Redis Cluster
// (sharded pub/sub) against one Redis node, in ONE run with the same load on both:
//   - one redis-server;
//   - a Cluster of three primaries and three replicas (test/helpers/redis-ha.js, built by
//     `npm run build`), with SPUBLISH/SSUBSCRIBE.
// On each: three relays and three gateways as processes. On the Cluster, relays and gateways are
// started until each primary holds the channel of one relay and of one gateway (a channel lives on
// the primary of its slot), so that the lines spread over the shards as a deployment's do. Load:
// bench/load.mjs, PEERS full-rate peers in 1:1 lines on each gateway (random line ids, so lines
// spread over the relays by rendezvous hashing) for SECONDS. Measured: each node's
// total_net_input_bytes and total_net_output_bytes (INFO stats) over the run.
// Prints a table (markdown) and one JSON line.
import { spawn, execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import serverKit from '@studioline/server-kit';
import redisHa from '../test/dist/helpers/redis-ha.js';
import { startNode } from './processes.mjs';

const { RedisKeys } = serverKit;
const { startCluster, requireRedisServer } = redisHa;
const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'packages/cli/bin/studioline.js');
const PEERS = Number(process.env.PEERS ?? 16);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const APIKEY = 'b'.repeat(72);
const ONE_ADDRESS = { SOCKETS_PER_ADDRESS: '100000', UNAUTHENTICATED_PER_ADDRESS: '100000' };
const log = (m) => process.stderr.write(`bench:shards: ${m}\n`);

if (requireRedisServer()) process.exit(2);

/**
 * Bytes in and out of a node's client connections so far (INFO stats), and the pub/sub messages
 * it sent over the cluster bus (CLUSTER INFO: a shard's primary copies each SPUBLISH to its
 * replicas; a classic PUBLISH would go to every node).
 */
async function traffic(address) {
  const [host, port] = address.split(':');
  const c = new Redis({ host, port: Number(port), lazyConnect: true, maxRetriesPerRequest: 1 });
  await c.connect();
  const text = await c.info('stats');
  const cluster = (await c.info('cluster')).includes('cluster_enabled:1') ? await c.call('CLUSTER', 'INFO') : '';
  c.disconnect();
  const field = (source, name) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(source)?.[1] ?? 0);
  return {
    input: field(text, 'total_net_input_bytes'),
    output: field(text, 'total_net_output_bytes'),
    busMessages: field(cluster, 'cluster_stats_messages_publishshard_sent') + field(cluster, 'cluster_stats_messages_publish_sent'),
  };
}

function service(role, env) {
  const extra = role === 'gateway' ? ['--port', '0'] : [];
  return startNode([cli, 'serve', '--role', role, ...extra], { METRICS_PORT: '0', APIKEY, ...ONE_ADDRESS, ...env }, (t) => {
    const m = role === 'gateway' ? /"gateway":"([^"]+)","address":"([^"]+)"/.exec(t) : /"relay":"([^"]+)"[^\n]*"relay started"/.exec(t);
    return m && { id: m[1], url: m[2] };
  }, { logLevel: 'info' });
}

function load(url) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'bench/load.mjs')], {
      env: { PATH: process.env.PATH, URL: url.replace(/^http/, 'ws') + '/ws', APIKEY, PEERS: String(PEERS), SECONDS: String(SECONDS) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1))) : reject(new Error(`load.mjs exited with ${code}`))));
  });
}

/**
 * Starts the services on `env`; with `homeOf` (a channel's primary), keeps starting relays and
 * gateways until each of `shards` primaries holds one relay's channel and one gateway's (at most
 * 12 of each); the others are stopped.
 */
async function deploy(env, names, homeOf, shards) {
  const started = [];
  const pick = async (role, channel) => {
    const chosen = new Map();
    for (let i = 0; i < 12 && chosen.size < shards; i++) {
      const p = await service(role, env);
      const home = homeOf ? await homeOf(channel(p.value.id)) : `any-${i}`;
      if (chosen.has(home)) p.child.kill('SIGTERM');
      else {
        chosen.set(home, p);
        started.push(p);
      }
    }
    if (chosen.size < shards) throw new Error(`could not place a ${role} on each of ${shards} shards`);
    return [...chosen.values()];
  };
  const relays = await pick('relay', (id) => names.relayChannel(id));
  const gateways = await pick('gateway', (id) => names.gatewayChannel(id));
  // Give the gateways a heartbeat to see every relay.
  await new Promise((r) => setTimeout(r, 1500));
  return { relays, gateways, stop: () => started.forEach((p) => p.child.kill('SIGKILL')) };
}

async function measure(name, env, nodes, homeOf) {
  const names = new RedisKeys(env.REDIS_PREFIX);
  const d = await deploy(env, names, homeOf, 3);
  try {
    const before = await Promise.all(nodes.map((n) => traffic(n.address)));
    const results = await Promise.all(d.gateways.map((g) => load(g.value.url)));
    const after = await Promise.all(nodes.map((n) => traffic(n.address)));
    const sent = results.reduce((a, r) => a + r.sent, 0);
    const received = results.reduce((a, r) => a + r.received, 0);
    const rows = nodes.map((n, i) => ({
      node: n.address,
      role: n.role,
      inMB: (after[i].input - before[i].input) / 1e6,
      outMB: (after[i].output - before[i].output) / 1e6,
      busMessages: after[i].busMessages - before[i].busMessages,
    }));
    log(`${name}: ${PEERS * 3} peers, delivered ${((received / sent) * 100).toFixed(2)} % of ${sent} frames`);
    return { name, peers: PEERS * 3, seconds: SECONDS, delivered: received / sent, rows };
  } finally {
    d.stop();
  }
}

const cleanup = [];
try {
  const out = [];
  // One node.
  const port = 6900 + Math.floor(Math.random() * 500);
  const single = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--client-output-buffer-limit', 'pubsub 128mb 32mb 60'], { stdio: 'ignore' });
  cleanup.push(() => single.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 500));
  out.push(await measure('one Redis node', { REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_PREFIX: 'bench:' }, [{ address: `127.0.0.1:${port}`, role: 'single' }]));
  single.kill('SIGKILL');

  // The Cluster.
  const cluster = await startCluster();
  cleanup.push(() => cluster.stop());
  const ask = cluster.nodes[0].client();
  const homeOf = async (channel) => (await cluster.primaryOf(await ask.call('CLUSTER', 'KEYSLOT', channel))).address;
  const primaries = new Set((await cluster.primaries()).map((p) => p.address));
  const nodes = cluster.nodes.map((n) => ({ address: n.address, role: primaries.has(n.address) ? 'primary' : 'replica' }));
  out.push(await measure('Cluster, 3 primaries + 3 replicas, sharded pub/sub', { REDIS_CLUSTER_NODES: cluster.seeds.join(','), REDIS_PREFIX: '{bench}:' }, nodes, homeOf));

  const base = out[0].rows[0];
  const total = (r) => r.inMB + r.outMB;
  const machine = `${cpus().length} × ${cpus()[0].model.trim()}, Node ${process.version}, ${execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).split(' ').slice(0, 3).join(' ')}`;
  const lines = [
    `Per-node Redis traffic, ${out[0].peers} full-rate peers (${PEERS} on each of 3 gateways, 3 relays), ${SECONDS} s + 1 s warm-up; ${machine}.`,
    '',
    '| configuration | node | role | client in MB | client out MB | in + out, share of one node | pub/sub messages sent on the cluster bus |',
    '|---|---|---|---:|---:|---:|---:|',
    ...out.flatMap((o) => o.rows.map((r) => `| ${o.name} (delivered ${(o.delivered * 100).toFixed(2)} %) | ${r.node} | ${r.role} | ${r.inMB.toFixed(1)} | ${r.outMB.toFixed(1)} | ${((total(r) / total(base)) * 100).toFixed(0)} % | ${r.role === 'single' ? '-' : r.busMessages} |`)),
  ];
  console.log(lines.join('\n'));
  console.log(JSON.stringify(out));
} finally {
  for (const c of cleanup.reverse()) await c();
}
process.exit(0);
