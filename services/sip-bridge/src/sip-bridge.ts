/**
 * The SIP bridge: phones register (digest authentication) and dial a line's number; each call
 * joins that line as a peer (inbound-call.ts). This file wires the parts and routes each SIP
 * request to the one that answers it.
 */
import type { Remote, SipMessage } from 'sip';
import { Backend, Logger, MemoryAuthFailureCounter, OpsServer, Registry, createRedisBackend, createRegistry, once, runAll, startOpsServer } from '@studioline/server-kit';
import { prepareResamplers } from '@studioline/client';
import { SipBridgeConfig } from './config.js';
import { DigestAuth } from './digest-auth.js';
import { InboundCall } from './inbound-call.js';
import { SipBridgeMetrics, createSipBridgeMetrics } from './metrics.js';
import { AccountStoreUnavailable, PhoneAccount, PhoneAccounts } from './phone-accounts.js';
import { Registrar } from './registrar.js';
import { RequestRate } from './request-rate.js';
import { RtpPorts } from './rtp-session.js';
import { NegotiationError, negotiate } from './sdp-negotiation.js';
import { SipStack, startSipStack } from './sip-stack.js';

/** Control characters other than tab: never in a header value (RFC 3261 §25.1). */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

/**
 * What makes a request that parsed unservable, as [status, reason phrase]; undefined when it is fine.
 * (The stack has already checked Via, From, To, Call-ID and CSeq are there.)
 */
function requestProblem(rq: SipMessage, transport: string): [number, string] | undefined {
  const method = rq.method ?? '';
  if (rq.version !== '2.0') return [505, 'Version Not Supported'];
  if (!/^[A-Z][A-Z-]{0,31}$/.test(method)) return [400, 'Bad Method'];
  if (typeof rq.uri !== 'string' || !/^sips?:[^\s]+$/i.test(rq.uri)) return [400, 'Bad Request-URI'];
  const cseq = rq.headers.cseq;
  if (!cseq || !Number.isInteger(cseq.seq) || cseq.seq < 0 || cseq.seq > 2 ** 31 - 1) return [400, 'Bad CSeq'];
  if (cseq.method !== method) return [400, 'CSeq Method Mismatch'];
  if (typeof rq.headers['call-id'] !== 'string' || !rq.headers['call-id'] || rq.headers['call-id'].length > 256) return [400, 'Bad Call-ID'];
  if (typeof rq.headers.from?.uri !== 'string' || typeof rq.headers.to?.uri !== 'string') return [400, 'Bad From or To'];
  for (const value of Object.values(rq.headers)) if (typeof value === 'string' && CONTROL.test(value)) return [400, 'Bad Header Value'];
  // Over UDP a body shorter than its Content-Length was cut (RFC 3261 §18.3): 400, not a guess.
  const length = Number(rq.headers['content-length'] ?? 0);
  if (transport === 'UDP' && length > (rq.content ?? '').length) return [400, 'Content-Length Too Long'];
  return undefined;
}

/** Methods the bridge answers (Allow); others get 405. */
export const ALLOWED_METHODS = ['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER'];
const ALLOW = { allow: ALLOWED_METHODS.join(', ') };
const JITTER_SAMPLE_MS = 1000;

export interface SipBridgeDeps {
  logger: Logger;
  /** Shared registry (embedded); default a new one with the process metrics. */
  registry?: Registry;
}

export class SipBridge {
  readonly registry: Registry;
  readonly metrics: SipBridgeMetrics;
  private readonly registrar: Registrar;
  private readonly auth: DigestAuth;
  private readonly rtpPorts: RtpPorts;
  private readonly calls = new Map<string, InboundCall>();
  /** INVITEs being authenticated (an account lookup in flight), by Call-ID: a retransmission waits its turn. */
  private readonly authenticating = new Set<string>();
  private readonly accounts: PhoneAccounts;
  /** The extensions' store (Redis), when config.redis is set. */
  private readonly backend?: Backend;
  /** Failed authentications per source address (the transport's, not a Via anyone can write). */
  private readonly failures = new MemoryAuthFailureCounter();
  private readonly rate: RequestRate;
  private stack?: SipStack;
  private ops?: OpsServer;
  private draining = false;
  private jitterTimer?: ReturnType<typeof setInterval>;

  constructor(
    readonly config: SipBridgeConfig,
    private readonly deps: SipBridgeDeps,
  ) {
    this.registry = deps.registry ?? createRegistry();
    this.registrar = new Registrar(config);
    this.metrics = createSipBridgeMetrics(this.registry, () => this.registrar.count);
    if (config.redis) {
      const { url, sentinels, clusterNodes, prefix } = config.redis;
      this.backend = createRedisBackend({ url, sentinels, clusterNodes, prefix, logger: deps.logger.child({ component: 'redis' }) });
      this.backend.registerMetrics(this.registry);
    }
    this.accounts = new PhoneAccounts(config.realm, config.directory, this.backend?.sipAccounts, deps.logger);
    this.auth = new DigestAuth(config.realm, (user) => this.accounts.lookup(user));
    this.rate = new RequestRate(config.rateLimit, config.rateBurst);
    this.rtpPorts = new RtpPorts(config.host, config.rtpPortMin, config.rtpPortMax);
  }

  async start(): Promise<void> {
    const { config, deps } = this;
    await prepareResamplers();
    this.ops = await startOpsServer({
      port: config.metricsPort,
      host: config.host,
      setting: { service: 'SIP bridge metrics', portVariable: 'METRICS_PORT', hostVariable: 'SIP_HOST' },
      registry: this.registry,
      // Without its Redis the bridge can check no extension: not ready (calls in progress go on).
      readiness: () => {
        const store = this.backend ? (this.backend.isReady() ? 'up' : 'down') : 'none';
        return { ready: Boolean(this.stack) && !this.draining && store !== 'down', calls: this.calls.size, registered: this.registrar.count, store };
      },
    });
    this.stack = await startSipStack({
      host: config.host,
      port: config.sipPort,
      publicAddress: config.publicAddress,
      logger: deps.logger.child({ component: 'sip' }),
      onRequest: (rq, remote) => this.onRequest(rq, remote),
      wire: {
        malformed: (transport, outcome) => {
          this.metrics.sipMalformed.inc({ transport, outcome });
          if (outcome === 'stream_closed') deps.logger.warn({ transport }, 'SIP stream closed: a header block or body past the limit (16 KiB)');
        },
      },
    });
    this.jitterTimer = setInterval(() => {
      for (const call of this.calls.values()) {
        const j = call.rtpJitterMs;
        if (j !== undefined) this.metrics.rtpJitter.observe(j);
      }
    }, JITTER_SAMPLE_MS);
    deps.logger.info({ sip: `${config.host}:${this.stack.port}`, transports: ['udp', 'tcp'], metrics: this.ops.url, phones: config.directory.phones.size, lines: config.directory.lines.size }, 'SIP bridge listening');
  }

  /** The SIP port (UDP and TCP). */
  get sipPort(): number {
    return this.stack?.port ?? 0;
  }

  get opsUrl(): string {
    return this.ops?.url ?? '';
  }

  private onRequest(rq: SipMessage, remote: Remote): void {
    const method = rq.method ?? '';
    this.metrics.sipRequests.inc({ method: ALLOWED_METHODS.includes(method) ? method : 'OTHER' });
    const stack = this.stack as SipStack;
    const call = this.calls.get(rq.headers['call-id']);
    // Within a call nothing is limited (a flood cannot cut a call's BYE); outside, per address.
    if (!call && method !== 'ACK' && !this.rate.take(remote.address)) {
      this.metrics.sipRefused.inc({ reason: 'rate_limited' });
      return void stack.respond(rq, 503, 'Too Many Requests', { headers: { 'retry-after': 5 } });
    }
    const problem = requestProblem(rq, remote.protocol);
    if (problem) {
      this.metrics.sipRefused.inc({ reason: 'malformed' });
      this.metrics.sipMalformed.inc({ transport: remote.protocol.toLowerCase(), outcome: 'answered' });
      if (method !== 'ACK') stack.respond(rq, problem[0], problem[1]);
      return;
    }
    switch (method) {
      case 'REGISTER':
        return void this.onRegister(rq, remote).catch((err) => this.failed(rq, err));
      case 'INVITE':
        if (rq.headers.to.params.tag) return call ? call.onReinvite(rq) : void stack.respond(rq, 481, 'Call/Transaction Does Not Exist');
        if (call || this.authenticating.has(rq.headers['call-id'])) return; // a retransmission the transaction layer did not catch
        return void this.onInvite(rq, remote).catch((err) => this.failed(rq, err));
      case 'ACK':
        return call?.onAck(rq);
      case 'BYE':
        return call ? call.onBye(rq) : void stack.respond(rq, 481, 'Call/Transaction Does Not Exist');
      case 'CANCEL':
        return call ? call.onCancel(rq) : void stack.respond(rq, 481, 'Call/Transaction Does Not Exist');
      case 'OPTIONS':
        return void stack.respond(rq, 200, 'OK', { headers: { ...ALLOW, accept: 'application/sdp' } });
      default:
        return void stack.respond(rq, 405, 'Method Not Allowed', { headers: ALLOW });
    }
  }

  /** A request whose handling threw: 503 when the extensions could not be read, 500 otherwise. */
  private failed(rq: SipMessage, err: unknown): void {
    const unavailable = err instanceof AccountStoreUnavailable;
    this.deps.logger.warn({ method: rq.method, err: (err as Error).message }, unavailable ? 'SIP request refused: the extensions cannot be read' : 'SIP request failed');
    (this.stack as SipStack).respond(rq, unavailable ? 503 : 500, unavailable ? 'Service Unavailable' : 'Server Internal Error', unavailable ? { headers: { 'retry-after': 5 } } : {});
  }

  /** Authenticates a request; answers the failure itself and returns undefined when it failed. */
  private async authenticate(rq: SipMessage, remote: Remote, count: (result: string) => void): Promise<PhoneAccount | undefined> {
    const stack = this.stack as SipStack;
    if (this.failures.countNow(remote.address) >= this.config.authFailLimit) {
      count('rate_limited');
      stack.respond(rq, 403, 'Too Many Failed Attempts');
      return undefined;
    }
    const result = await this.auth.verify(rq);
    if (result.ok) return result.account;
    if (result.reason === 'missing' || result.reason === 'stale') {
      count(result.reason === 'missing' ? 'challenged' : 'stale');
      stack.respond(rq, 401, 'Unauthorized', { headers: this.auth.challenge(result.reason === 'stale') });
    } else if (result.reason === 'malformed') {
      count('malformed');
      stack.respond(rq, 400, 'Bad Authorization Header');
    } else {
      // A wrong password or an unknown account: refused outright (a second challenge would only
      // have the phone retry the same password).
      count('refused');
      const failures = this.failures.recordNow(remote.address, this.config.authFailWindowMs);
      this.deps.logger.warn({ method: rq.method, from: rq.headers.from?.uri?.slice(0, 64), address: remote.address, failures }, 'SIP authentication failed');
      stack.respond(rq, 403, 'Forbidden');
    }
    return undefined;
  }

  private async onRegister(rq: SipMessage, remote: Remote): Promise<void> {
    const account = await this.authenticate(rq, remote, (result) => this.metrics.registrations.inc({ result }));
    if (!account) return;
    const user = account.user;
    const outcome = this.registrar.register(rq, remote, user);
    this.metrics.registrations.inc({ result: outcome.result });
    const reason = { 200: 'OK', 400: 'Bad Request', 403: 'Forbidden', 423: 'Interval Too Brief' }[outcome.status];
    (this.stack as SipStack).respond(rq, outcome.status, reason, { headers: outcome.headers });
    if (outcome.result === 'ok') this.deps.logger.info({ user, transport: remote.protocol }, 'phone registered');
  }

  private async onInvite(rq: SipMessage, remote: Remote): Promise<void> {
    const stack = this.stack as SipStack;
    const count = (result: string) => this.metrics.calls.inc({ result });
    const callId: string = rq.headers['call-id'];
    this.authenticating.add(callId);
    let account: PhoneAccount | undefined;
    try {
      account = await this.authenticate(rq, remote, (r) => count(r === 'challenged' || r === 'stale' ? 'challenged' : r === 'rate_limited' ? 'rate_limited' : 'refused'));
    } finally {
      this.authenticating.delete(callId);
    }
    if (!account) return;
    let number: string | undefined;
    try {
      number = (rq.uri && /^sips?:([^@;]+)@/.exec(rq.uri)?.[1]) || undefined;
    } catch {
      number = undefined;
    }
    const line = number ? this.config.directory.lines.get(decodeURIComponent(number)) : undefined;
    if (account.line !== undefined && number !== undefined && decodeURIComponent(number) !== account.line) {
      // An extension is bound to its line: it dials that line and no other.
      count('forbidden');
      return void stack.respond(rq, 403, 'Not This Extension\'s Line');
    }
    if (!line) {
      count('not_found');
      return void stack.respond(rq, 404, 'Not Found');
    }
    if (this.draining) {
      count('busy');
      return void stack.respond(rq, 503, 'Service Unavailable', { headers: { 'retry-after': 5 } });
    }
    if (this.calls.size >= this.config.maxCalls) {
      count('busy');
      return void stack.respond(rq, 486, 'Busy Here');
    }
    let negotiated;
    try {
      negotiated = negotiate(rq.content);
    } catch (err) {
      if (!(err instanceof NegotiationError)) throw err;
      count('not_acceptable');
      return void stack.respond(rq, 488, 'Not Acceptable Here', { headers: { warning: `305 studioline "${err.message.replace(/"/g, "'")}"` } });
    }
    const call = new InboundCall(rq, remote, line, negotiated, { stack, rtpPorts: this.rtpPorts, publicAddress: this.config.publicAddress, metrics: this.metrics, logger: this.deps.logger, lineJoinTimeoutMs: this.config.lineJoinTimeoutMs }, (c) => this.calls.delete(c.callId));
    this.calls.set(call.callId, call);
    void call.answer();
  }

  /** Not ready, calls hung up (BYE), then SIP and the ops port closed. */
  readonly destroy = once(async () => {
    this.draining = true;
    await runAll([
      () => clearInterval(this.jitterTimer),
      () => {
        for (const call of [...this.calls.values()]) call.hangUp();
      },
      // Give the BYEs a moment on the wire before the sockets close.
      () => new Promise((r) => setTimeout(r, 100)),
      () => this.stack?.close(),
      () => this.ops?.close(),
      () => this.backend?.close(),
    ]);
  });
}
