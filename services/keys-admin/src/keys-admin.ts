/**
 * keys-admin: the REST API for API keys, behind a bearer admin token.
 *
 *   POST   /v1/keys               { name, expiresAt? (ISO time) }  -> 201 { key, secret }  (secret shown once)
 *   GET    /v1/keys                                                 -> { keys }
 *   GET    /v1/keys/:id                                             -> { key }
 *   POST   /v1/keys/:id/revoke                                      -> { key }
 *   DELETE /v1/keys/:id            same as revoke
 *   POST   /v1/keys/:id/rotate                                      -> { key, secret }
 *   GET    /v1/audit?limit=N                                        -> { entries }
 *   GET    /healthz, /readyz, /metrics
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import express, { NextFunction, Request, Response } from 'express';
import type { KubeConfig } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { Backend, Logger, Registry, once, runAll } from '@studioline/server-kit';
import { KeysAdminConfig } from './config.js';
import { KeyNotFoundError, KeyService } from './key-service.js';
import { SecretSync } from './secret-sync.js';

export interface KeysAdminDeps {
  backend: Backend;
  logger: Logger;
  registry?: Registry;
  /** How to reach the Kubernetes API for the Secret mirror; default: in-cluster or ~/.kube/config. */
  kubeConfig?: KubeConfig;
}

class BadRequestError extends Error {
  readonly code = 'bad_request';
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export class KeysAdminService {
  readonly keys: KeyService;
  private readonly server: Server;
  private secretSync?: SecretSync;

  private constructor(
    private readonly config: KeysAdminConfig,
    private readonly deps: KeysAdminDeps,
  ) {
    this.keys = new KeyService(deps.backend);
    this.server = createServer(this.app());
  }

  static create(config: KeysAdminConfig, deps: KeysAdminDeps): KeysAdminService {
    return new KeysAdminService(config, deps);
  }

  private app(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.use(express.json({ limit: '16kb' }));
    app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
    app.get('/readyz', (_req, res) => {
      const ready = this.deps.backend.isReady();
      res.status(ready ? 200 : 503).json({ ready, store: ready ? 'up' : 'down' });
    });
    const registry = this.deps.registry;
    if (registry) app.get('/metrics', async (_req, res) => void res.type(registry.contentType).send(await registry.metrics()));
    const expected = digest(this.config.adminToken);
    app.use('/v1', (req, res, next) => {
      const header = req.headers.authorization ?? '';
      const token = header.startsWith('Bearer ') ? header.slice(7) : '';
      if (!token || !timingSafeEqual(digest(token), expected)) {
        res.status(401).json({ error: 'unauthorized', message: 'missing or wrong admin bearer token' });
        return;
      }
      next();
    });
    const actor = (req: Request) => `admin@${req.socket.remoteAddress ?? 'unknown'}`;
    app.post('/v1/keys', async (req, res) => {
      const { name, expiresAt } = req.body ?? {};
      if (typeof name !== 'string' || !name.trim() || name.length > 200) throw new BadRequestError('name is required (a string of at most 200 characters)');
      let expires: number | undefined;
      if (expiresAt !== undefined) {
        expires = Date.parse(expiresAt);
        if (Number.isNaN(expires)) throw new BadRequestError('expiresAt must be an ISO 8601 time');
        if (expires <= Date.now()) throw new BadRequestError('expiresAt is in the past');
      }
      const created = await this.keys.create({ name: name.trim(), expiresAt: expires, source: 'api' }, actor(req));
      this.deps.logger.info({ keyId: created.key.id, prefix: created.key.prefix }, 'api key created');
      res.status(201).json(created);
    });
    app.get('/v1/keys', async (_req, res) => void res.json({ keys: await this.keys.list() }));
    app.get('/v1/keys/:id', async (req, res) => void res.json({ key: await this.keys.get(req.params.id) }));
    const revoke = async (req: Request, res: Response) => {
      const key = await this.keys.revoke(req.params.id as string, actor(req));
      this.deps.logger.info({ keyId: key.id }, 'api key revoked');
      res.json({ key });
    };
    app.post('/v1/keys/:id/revoke', revoke);
    app.delete('/v1/keys/:id', revoke);
    app.post('/v1/keys/:id/rotate', async (req, res) => {
      const rotated = await this.keys.rotate(req.params.id, actor(req));
      this.deps.logger.info({ keyId: rotated.key.id }, 'api key rotated');
      res.json(rotated);
    });
    app.get('/v1/audit', async (req, res) => {
      const limit = Math.min(1000, Math.max(1, Number(req.query.limit ?? 100) || 100));
      res.json({ entries: await this.keys.auditLog(limit) });
    });
    app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
      if (err instanceof KeyNotFoundError) return void res.status(404).json({ error: err.code, message: err.message });
      if (err instanceof BadRequestError) return void res.status(400).json({ error: err.code, message: err.message });
      if ((err as { type?: string }).type === 'entity.parse.failed') return void res.status(400).json({ error: 'bad_request', message: 'the body is not valid JSON' });
      this.deps.logger.error({ err: err.message }, 'admin request failed');
      res.status(503).json({ error: 'unavailable', message: 'the key store is unavailable; try again' });
    });
    return app;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.config.port, this.config.host, () => resolve());
    });
    this.deps.logger.info({ address: this.url }, 'keys admin listening');
    if (this.config.secretSync) {
      let kubeConfig = this.deps.kubeConfig;
      if (!kubeConfig) {
        const k8s = await import('@kubernetes/client-node');
        kubeConfig = new k8s.KubeConfig();
        kubeConfig.loadFromDefault();
      }
      this.secretSync = new SecretSync(kubeConfig, this.config.secretSync, this.keys, this.deps.logger.child({ component: 'secret-sync' }));
      await this.secretSync.start();
    }
  }

  /** Resolves once the Secret mirror has mirrored its first full list (at once when it is off). */
  get secretsSynced(): Promise<void> {
    return this.secretSync?.synced ?? Promise.resolve();
  }

  get url(): string {
    const addr = this.server.address() as AddressInfo;
    return `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  }

  readonly destroy = once(async () => {
    await runAll([
      () => this.secretSync?.stop(),
      () => {
        this.server.closeAllConnections();
        return new Promise<void>((resolve) => this.server.close(() => resolve()));
      },
    ]);
  });
}
