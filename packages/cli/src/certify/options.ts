/**
 * `studioline certify` options: one table gives each option its flag, environment variable, values
 * file key, default and help line, so the three sources and the help text cannot drift apart.
 * Precedence: flag, then environment, then values file (`--values FILE`, YAML or JSON, the keys at
 * the top level or under `certify:` so the chart's own values file works), then the default.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '@studioline/server-kit';
import { parseDurationSeconds } from './duration.js';
import type { OptionSpec } from '../command.js';

type Kind = 'string' | 'int' | 'number' | 'duration' | 'list';
interface Spec {
  flag: string;
  key: string;
  env: string[];
  kind: Kind;
  def?: string;
  arg: string;
  help: string;
}

const SPECS: Spec[] = [
  { flag: 'url', key: 'url', env: ['CERTIFY_URL'], kind: 'string', arg: 'URL', help: 'the deployment: its public URL (https://HOST/ or wss://HOST/) or a gateway' },
  { flag: 'key', key: 'key', env: ['CERTIFY_KEY', 'APIKEY'], kind: 'string', arg: 'KEY', help: 'an API key of the deployment (only its first 6 characters are ever printed)' },
  { flag: 'admin-url', key: 'adminUrl', env: ['CERTIFY_ADMIN_URL'], kind: 'string', arg: 'URL', help: 'without --key: make a temporary key through this keys admin API (token in STUDIOLINE_ADMIN_TOKEN), revoked afterwards' },
  { flag: 'wait-ready', key: 'waitReady', env: ['CERTIFY_WAIT_READY'], kind: 'duration', def: '0', arg: 'TIME', help: 'first wait this long for URL/readyz to answer 200 (a Job may start before the gateways)' },
  { flag: 'peers', key: 'peers', env: ['CERTIFY_PEERS'], kind: 'int', def: '10', arg: 'N', help: 'peers in all (over every shard), rounded up to whole lines' },
  { flag: 'lines-of', key: 'linesOf', env: ['CERTIFY_LINES_OF'], kind: 'int', def: '2', arg: 'N', help: 'peers per line (2: 1:1 calls; more needs LINE_CAPACITY on the gateways)' },
  { flag: 'duration', key: 'duration', env: ['CERTIFY_DURATION'], kind: 'duration', def: '60s', arg: 'TIME', help: 'the whole run: ramp up, hold, ramp down (e.g. 60s, 2m)' },
  { flag: 'ramp-up', key: 'rampUp', env: ['CERTIFY_RAMP_UP'], kind: 'duration', arg: 'TIME', help: 'lines join one after another over this time (default a sixth of --duration, at most 10s; 0: all at once)' },
  { flag: 'ramp-down', key: 'rampDown', env: ['CERTIFY_RAMP_DOWN'], kind: 'duration', arg: 'TIME', help: 'lines leave one after another over this time (default like --ramp-up)' },
  { flag: 'budget', key: 'budget', env: ['CERTIFY_BUDGET_BPS'], kind: 'int', def: '7000000', arg: 'BPS', help: 'the per-peer budget each way, in bit/s, that the deployment promises' },
  { flag: 'over-budget', key: 'overBudget', env: ['CERTIFY_OVER_BUDGET_BPS'], kind: 'int', def: '10000000', arg: 'BPS', help: 'add one line whose sender sends this much during the hold, to show it throttled (0: none)' },
  { flag: 'mobile-lines', key: 'mobileLines', env: ['CERTIFY_MOBILE_LINES'], kind: 'int', def: '1', arg: 'N', help: 'add N 1:1 lines of a full-rate peer and a mobile=1 peer (compact layer only) during the hold, to show the mobile one held to the compact budget (0: none)' },
  { flag: 'max-loss', key: 'maxLoss', env: ['CERTIFY_MAX_LOSS'], kind: 'number', def: '0.001', arg: 'SHARE', help: 'fail when more than this share of frames is lost' },
  { flag: 'max-p99-ms', key: 'maxP99Ms', env: ['CERTIFY_MAX_P99_MS'], kind: 'number', def: '50', arg: 'MS', help: 'fail when the mouth-to-ear p99 latency is above this' },
  { flag: 'late-ms', key: 'lateMs', env: ['CERTIFY_LATE_MS'], kind: 'number', def: '50', arg: 'MS', help: 'a frame that arrives later than this after it was sent counts as late' },
  { flag: 'max-join-ms', key: 'maxJoinMs', env: ['CERTIFY_MAX_JOIN_MS'], kind: 'number', def: '2000', arg: 'MS', help: 'fail when the p95 time to join a line is above this' },
  { flag: 'metrics', key: 'metrics', env: ['CERTIFY_METRICS'], kind: 'list', arg: 'URL', help: 'a /metrics to scrape before and after (repeat or comma-separate; default URL/metrics; dns+http://NAME:PORT/metrics scrapes every address of NAME, e.g. a headless Service)' },
  { flag: 'out', key: 'out', env: ['CERTIFY_OUT'], kind: 'string', arg: 'DIR', help: 'where the certificate goes (default .artifacts/certificates/<time>)' },
  { flag: 'workers', key: 'workers', env: ['CERTIFY_WORKERS'], kind: 'int', arg: 'N', help: 'processes that drive the peers (default one per 25 peers, at most one per core)' },
  { flag: 'shards', key: 'shards', env: ['CERTIFY_SHARDS'], kind: 'int', def: '1', arg: 'N', help: 'this run is one of N shards (a Kubernetes Indexed Job\'s completions)' },
  { flag: 'shard-index', key: 'shardIndex', env: ['CERTIFY_SHARD_INDEX', 'JOB_COMPLETION_INDEX'], kind: 'int', def: '0', arg: 'I', help: 'which shard this is, 0-based (default JOB_COMPLETION_INDEX)' },
  { flag: 'record-mb', key: 'recordMb', env: ['CERTIFY_RECORD_MB'], kind: 'int', def: '256', arg: 'MB', help: 'memory per worker for the receivers that keep what they hear for the tone and level check' },
  { flag: 'ca', key: 'ca', env: ['CERTIFY_CA'], kind: 'string', arg: 'FILE', help: 'extra CA certificate (PEM) to trust for wss://' },
];

/**
 * What `studioline certify --help` lists: each option with its default and environment variables. The
 * defaults stay out of the parser (they are applied after the environment and the values file).
 */
export const CERTIFY_OPTIONS: Record<string, OptionSpec> = {
  values: { type: 'string', value: 'FILE', description: 'YAML or JSON with the options below (keys as in the chart\'s certify: block)' },
  ...Object.fromEntries(SPECS.map((s) => [s.flag, { type: 'string' as const, value: s.arg, description: `${s.help}${s.def !== undefined ? ` (default ${s.def})` : ''}; env ${s.env.join(', ')}` }])),
};

/**
 * Full-rate peers one certifier process (one core) drives: 200 frames a second each, at 0.08-0.17 ms
 * of CPU per frame sent or received with node:crypto (bench/seal-open.mjs; the low end at full load):
 * 25 leaves the headroom a loaded machine needs.
 */
export const PEERS_PER_WORKER = 25;

export interface CertifyOptions {
  url: string;
  /** Absent when a temporary key is to be made through adminUrl. */
  key?: string;
  adminUrl?: string;
  adminToken?: string;
  waitReadySeconds: number;
  peers: number;
  linesOf: number;
  durationSeconds: number;
  rampUpSeconds: number;
  rampDownSeconds: number;
  budgetBps: number;
  overBudgetBps: number;
  mobileLines: number;
  maxLoss: number;
  maxP99Ms: number;
  lateMs: number;
  maxJoinMs: number;
  metrics: string[];
  out?: string;
  workers: number;
  shards: number;
  shardIndex: number;
  recordMb: number;
  ca?: string;
}

function readValuesFile(path: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`--values ${path}: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object') throw new ConfigError(`--values ${path}: expected a mapping of options`);
  const block = (doc as Record<string, unknown>).certify;
  return (block && typeof block === 'object' ? block : doc) as Record<string, unknown>;
}

/**
 * Resolves parsed flags (as given: a flag the command line did not set is undefined), environment and
 * values file into complete options; throws ConfigError saying what to change.
 */
export function resolveCertifyOptions(flags: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): CertifyOptions {
  const file = flags.values ? readValuesFile(flags.values as string) : {};
  const raw = (s: Spec): { text?: string; from: string } => {
    const flag = flags[s.flag];
    if (typeof flag === 'string') return { text: flag, from: `--${s.flag}` };
    for (const name of s.env) if (env[name]) return { text: env[name], from: name };
    const v = file[s.key];
    if (v !== undefined && v !== null && v !== '') return { text: Array.isArray(v) ? v.join(',') : String(v), from: `${s.key} in ${flags.values}` };
    return { text: s.def, from: `--${s.flag}` };
  };
  const out: Record<string, unknown> = {};
  for (const s of SPECS) {
    const { text, from } = raw(s);
    if (text === undefined) continue;
    switch (s.kind) {
      case 'string':
        out[s.key] = text;
        break;
      case 'list':
        out[s.key] = text.split(',').map((x) => x.trim()).filter(Boolean);
        break;
      case 'int':
      case 'number': {
        const n = Number(text);
        if (!Number.isFinite(n) || n < 0 || (s.kind === 'int' && !Number.isInteger(n))) throw new ConfigError(`${from} must be a ${s.kind === 'int' ? 'whole ' : ''}number, not "${text}"`);
        out[s.key] = n;
        break;
      }
      case 'duration': {
        const n = parseDurationSeconds(text);
        if (n === undefined) throw new ConfigError(`${from} must be a duration like 60s or 2m, not "${text}"`);
        out[s.key] = n;
        break;
      }
    }
  }
  if (!out.url) throw new ConfigError('certify needs --url (the deployment, e.g. https://calls.example.com/)');
  const adminToken = env.STUDIOLINE_ADMIN_TOKEN ?? env.ADMIN_TOKEN;
  if (!out.key && !(out.adminUrl && adminToken)) throw new ConfigError('certify needs an API key: --key KEY, CERTIFY_KEY or APIKEY (or --admin-url with STUDIOLINE_ADMIN_TOKEN to make a temporary one)');
  const url = String(out.url);
  if (!/^(https?|wss?):\/\/[^/]/.test(url)) throw new ConfigError(`--url must be http(s):// or ws(s)://, not "${url}"`);
  const linesOf = out.linesOf as number;
  if (linesOf < 2 || linesOf > 64) throw new ConfigError('--lines-of must be between 2 and 64');
  if ((out.peers as number) < linesOf) throw new ConfigError(`--peers must be at least --lines-of (${linesOf})`);
  const duration = out.duration as number;
  const autoRamp = Math.min(10, duration / 6);
  const rampUp = (out.rampUp as number | undefined) ?? autoRamp;
  const rampDown = (out.rampDown as number | undefined) ?? rampUp;
  if (duration < 2 || rampUp + rampDown > duration - 1) throw new ConfigError(`--duration (${duration}s) must leave at least 1 s of hold after --ramp-up and --ramp-down`);
  const shards = out.shards as number;
  const shardIndex = out.shardIndex as number;
  if (shards < 1 || shardIndex >= shards) throw new ConfigError(`--shard-index ${shardIndex} must be below --shards ${shards}`);
  const budget = out.budget as number;
  if (budget < 100_000) throw new ConfigError('--budget is in bit/s and must be at least 100000');
  const peersHere = Math.ceil((out.peers as number) / shards);
  // One core drives about 25 full-rate peers with headroom (each seals and opens 100 frames a second; see PEERS_PER_WORKER).
  const workers = (out.workers as number | undefined) ?? Math.max(1, Math.min(availableParallelism(), Math.ceil(peersHere / PEERS_PER_WORKER)));
  if (workers < 1 || workers > 64) throw new ConfigError('--workers must be between 1 and 64');
  if ((out.mobileLines as number) > 16) throw new ConfigError('--mobile-lines must be between 0 and 16');
  if ((out.maxLoss as number) > 1) throw new ConfigError('--max-loss is a share between 0 and 1');
  return {
    url,
    key: out.key === undefined ? undefined : String(out.key),
    adminUrl: out.adminUrl as string | undefined,
    adminToken: out.key === undefined ? adminToken : undefined,
    waitReadySeconds: out.waitReady as number,
    peers: out.peers as number,
    linesOf,
    durationSeconds: duration,
    rampUpSeconds: rampUp,
    rampDownSeconds: rampDown,
    budgetBps: budget,
    overBudgetBps: out.overBudget as number,
    mobileLines: out.mobileLines as number,
    maxLoss: out.maxLoss as number,
    maxP99Ms: out.maxP99Ms as number,
    lateMs: out.lateMs as number,
    maxJoinMs: out.maxJoinMs as number,
    metrics: (out.metrics as string[] | undefined) ?? [],
    out: out.out as string | undefined,
    workers,
    shards,
    shardIndex,
    recordMb: out.recordMb as number,
    ca: out.ca as string | undefined,
  };
}
