/**
 * A STAND-IN for the Kubernetes API server: no API server can run on these machines, so this small
 * in-process HTTP server answers the two calls the Secret mirror makes (list and watch Secrets in a
 * namespace, with a label selector) the way the real one does: a SecretList with a resourceVersion,
 * and a chunked stream of JSON watch events. Tests change Secrets through it and can cut the watch.
 */
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { AddressInfo } from 'node:net';

interface Secret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace: string; labels: Record<string, string>; annotations?: Record<string, string>; resourceVersion: string; uid: string };
  data: Record<string, string>;
}

export class KubeApiStandIn {
  private readonly server: Server;
  private readonly secrets = new Map<string, Secret>();
  private readonly watches = new Set<ServerResponse>();
  private version = 1;
  /** How many list and watch requests arrived (a resync shows as a new list). */
  readonly requests = { list: 0, watch: 0 };

  constructor(readonly namespace: string) {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Starts the stand-in and returns a client configuration that points at it (as keys-admin takes it). */
  async startWithKubeConfig() {
    const server = await this.start();
    const k8s = await import('@kubernetes/client-node');
    const kubeConfig = new k8s.KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'standin', server, skipTLSVerify: true }],
      users: [{ name: 'test', token: 'standin-token' }],
      contexts: [{ name: 'standin', cluster: 'standin', user: 'test' }],
      currentContext: 'standin',
    });
    return kubeConfig;
  }

  private matches(secret: Secret, selector: string | null): boolean {
    if (!selector) return true;
    return selector.split(',').every((term) => {
      const [k, v] = term.split('=');
      return v === undefined ? k in secret.metadata.labels : secret.metadata.labels[k] === v;
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://standin');
    if (url.pathname !== `/api/v1/namespaces/${this.namespace}/secrets`) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', status: 'Failure', code: 404 }));
      return;
    }
    const selector = url.searchParams.get('labelSelector');
    if (url.searchParams.get('watch') === 'true') {
      this.requests.watch++;
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.flushHeaders();
      (res as ServerResponse & { selector?: string | null }).selector = selector;
      this.watches.add(res);
      res.on('close', () => this.watches.delete(res));
      return;
    }
    this.requests.list++;
    const items = [...this.secrets.values()].filter((s) => this.matches(s, selector));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ apiVersion: 'v1', kind: 'SecretList', metadata: { resourceVersion: String(this.version) }, items }));
  }

  private emit(type: 'ADDED' | 'MODIFIED' | 'DELETED', secret: Secret): void {
    for (const res of this.watches) {
      if (this.matches(secret, (res as ServerResponse & { selector?: string | null }).selector ?? null)) res.write(JSON.stringify({ type, object: secret }) + '\n');
    }
  }

  /** Creates or replaces a Secret whose `apikey` field holds `apiKey`. */
  apply(name: string, apiKey: string, labels: Record<string, string> = { 'studioline.io/api-key': 'true' }, annotations?: Record<string, string>): void {
    this.applyData(name, { apikey: apiKey }, labels, annotations);
  }

  /** Creates or replaces a Secret with these data fields (plain text; stored base64 as the API does). */
  applyData(name: string, fields: Record<string, string>, labels: Record<string, string>, annotations?: Record<string, string>): void {
    const existed = this.secrets.has(name);
    const secret: Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: this.namespace, labels, annotations, resourceVersion: String(++this.version), uid: `uid-${name}` },
      data: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    };
    this.secrets.set(name, secret);
    this.emit(existed ? 'MODIFIED' : 'ADDED', secret);
  }

  delete(name: string, { silently = false } = {}): void {
    const secret = this.secrets.get(name);
    if (!secret) return;
    this.secrets.delete(name);
    this.version++;
    if (!silently) this.emit('DELETED', secret);
  }

  /** Cuts every open watch, as a restarting API server or a dropped connection would. */
  dropWatches(): void {
    for (const res of this.watches) res.destroy();
    this.watches.clear();
  }

  async stop(): Promise<void> {
    this.dropWatches();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
