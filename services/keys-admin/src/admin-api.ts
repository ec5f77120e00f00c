/**
 * The keys admin REST API, behind a bearer admin token:
 *
 *   POST   /v1/keys               { name, expiresAt? (ISO time), limits? }  -> 201 { key, secret }  (secret shown once)
 *   GET    /v1/keys                                                 -> { keys }
 *   GET    /v1/keys/:id                                             -> { key }
 *   POST   /v1/keys/:id/revoke                                      -> { key }
 *   DELETE /v1/keys/:id            same as revoke
 *   POST   /v1/keys/:id/rotate                                      -> { key, secret }
 *   POST   /v1/keys/:id/expiry    { expiresAt: ISO time | null }   -> { key }  (null: never expires)
 *   POST   /v1/keys/:id/limits    { maxPeers?, maxLines?, mobileOnly?, maxLayer? }  -> { key }  (replaces the
 *                                 key's limits; {} removes them; see KeyLimits in server-kit's api-keys.ts)
 *   GET    /v1/audit?limit=N                                        -> { entries }
 *   POST   /v1/sip/extensions     { extension, line, name?, password? }  -> 201 { extension, password }
 *                                 (a SIP bridge account bound to a line; the password, generated
 *                                 unless given, is shown once and stored only as its digest HA1)
 *   GET    /v1/sip/extensions                                       -> { extensions }
 *   GET    /v1/sip/extensions/:ext                                  -> { extension }
 *   DELETE /v1/sip/extensions/:ext                                  -> { extension }
 *   POST   /v1/sip/extensions/:ext/password { password? }          -> { extension, password }
 *   GET    /healthz, /readyz, /metrics (no token: probes and scrapers)
 *
 * The token is checked before a byte of the body is read: an unauthenticated client gets 401 and
 * a closed connection whatever it sends, and never reaches the JSON parser. Bodies are capped at
 * MAX_BODY_BYTES (413). Refusals are answered with the status of their code in the one error table
 * (`ERRORS` in the protocol package), counted, and logged at debug level only: they are the
 * client's doing, not the server's.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import express, { NextFunction, Request, Response } from 'express';
import { ERRORS, ErrorCode } from '@studioline/protocol';
import { KeyLimits, KeyLimitsError, Logger, Readiness, Registry, SipAccountError, opsMiddleware, parseKeyLimits } from '@studioline/server-kit';
import { KeyNotFoundError, KeyService } from './key-service.js';
import { KeysAdminMetrics } from './metrics.js';
import { SipExtensionNotFoundError, SipExtensionService } from './sip-extension-service.js';

/** The largest request body accepted (a key's name and expiry need a few hundred bytes). */
export const MAX_BODY_BYTES = 16 * 1024;

export interface AdminApiOptions {
  adminToken: string;
  keys: KeyService;
  sip: SipExtensionService;
  logger: Logger;
  metrics: KeysAdminMetrics;
  registry?: Registry;
  readiness(): Readiness;
}

class AdminRequestError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The metric label of a refusal. */
const REFUSAL_REASON: Partial<Record<ErrorCode, string>> = { unauthorized: 'unauthorized', message_too_big: 'too_large', bad_request: 'bad_request', not_found: 'not_found' };

/** A request's limits, or a 400 naming what is wrong. */
function readLimits(input: unknown): KeyLimits {
  try {
    return parseKeyLimits(input);
  } catch (err) {
    if (err instanceof KeyLimitsError) throw new AdminRequestError('bad_request', err.message);
    throw err;
  }
}

export function createAdminApi(options: AdminApiOptions): express.Express {
  const { keys, sip, logger, metrics } = options;
  const app = express();
  app.disable('x-powered-by');
  const refuse = (res: Response, code: ErrorCode, message: string, closeConnection = false) => {
    metrics.refused.inc({ reason: REFUSAL_REASON[code] ?? code });
    // An unread body is not drained for a client we refuse: the connection goes with the answer.
    if (closeConnection) res.set('connection', 'close');
    res.status(ERRORS[code].httpStatus).json({ error: code, message });
  };

  app.use(opsMiddleware({ registry: options.registry, readiness: options.readiness }));

  const expected = digest(options.adminToken);
  app.use('/v1', (req, res, next) => {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : '';
    if (!token || !timingSafeEqual(digest(token), expected)) {
      logger.debug({ method: req.method, path: req.path }, 'admin request without a valid token');
      return refuse(res, 'unauthorized', 'missing or wrong admin bearer token', true);
    }
    next();
  });
  // Only now, for an administrator, is the body read: at most MAX_BODY_BYTES, JSON only.
  app.use('/v1', express.json({ limit: MAX_BODY_BYTES }));

  const actor = (req: Request) => `admin@${req.socket.remoteAddress ?? 'unknown'}`;
  app.post('/v1/keys', async (req, res) => {
    const { name, expiresAt, limits } = req.body ?? {};
    if (typeof name !== 'string' || !name.trim() || name.length > 200) throw new AdminRequestError('bad_request', 'name is required (a string of at most 200 characters)');
    let expires: number | undefined;
    if (expiresAt !== undefined) {
      expires = typeof expiresAt === 'string' ? Date.parse(expiresAt) : NaN;
      if (Number.isNaN(expires)) throw new AdminRequestError('bad_request', 'expiresAt must be an ISO 8601 time');
      if (expires <= Date.now()) throw new AdminRequestError('bad_request', 'expiresAt is in the past');
    }
    const created = await keys.create({ name: name.trim(), expiresAt: expires, source: 'api', limits: readLimits(limits) }, actor(req));
    logger.info({ keyId: created.key.id, prefix: created.key.prefix }, 'api key created');
    res.status(201).json(created);
  });
  app.get('/v1/keys', async (_req, res) => void res.json({ keys: await keys.list() }));
  app.get('/v1/keys/:id', async (req, res) => void res.json({ key: await keys.get(req.params.id) }));
  const revoke = async (req: Request, res: Response) => {
    const key = await keys.revoke(req.params.id as string, actor(req));
    logger.info({ keyId: key.id }, 'api key revoked');
    res.json({ key });
  };
  app.post('/v1/keys/:id/revoke', revoke);
  app.delete('/v1/keys/:id', revoke);
  app.post('/v1/keys/:id/rotate', async (req, res) => {
    const rotated = await keys.rotate(req.params.id, actor(req));
    logger.info({ keyId: rotated.key.id }, 'api key rotated');
    res.json(rotated);
  });
  app.post('/v1/keys/:id/expiry', async (req, res) => {
    const { expiresAt } = req.body ?? {};
    let expires: number | undefined;
    if (expiresAt !== null) {
      expires = typeof expiresAt === 'string' ? Date.parse(expiresAt) : NaN;
      if (Number.isNaN(expires)) throw new AdminRequestError('bad_request', 'expiresAt must be an ISO 8601 time, or null for a key that never expires');
    }
    // A time already past is allowed: the key expires now, and every gateway closes its sockets.
    const key = await keys.setExpiry(req.params.id, expires, actor(req));
    logger.info({ keyId: key.id, expiresAt: key.expiresAt ?? 'never' }, 'api key expiry changed');
    res.json({ key });
  });
  app.post('/v1/keys/:id/limits', async (req, res) => {
    const key = await keys.setLimits(req.params.id, readLimits(req.body ?? {}), actor(req));
    logger.info({ keyId: key.id, limits: key.limits }, 'api key limits changed');
    res.json({ key });
  });
  app.get('/v1/audit', async (req, res) => {
    const limit = Math.min(1000, Math.max(1, Number(req.query.limit ?? 100) || 100));
    res.json({ entries: await keys.auditLog(limit) });
  });
  const body = (req: Request): Record<string, unknown> => (typeof req.body === 'object' && req.body !== null ? req.body : {});
  app.post('/v1/sip/extensions', async (req, res) => {
    const { extension, line, name, password } = body(req);
    if (name !== undefined && (typeof name !== 'string' || name.length > 200)) throw new AdminRequestError('bad_request', 'name must be a string of at most 200 characters');
    const created = await sip.create({ extension: extension as string, line: line as string, name: name as string | undefined, password: password as string | undefined }, actor(req));
    logger.info({ extension: created.extension.extension, line: created.extension.line }, 'SIP extension created');
    res.status(201).json(created);
  });
  app.get('/v1/sip/extensions', async (_req, res) => void res.json({ extensions: await sip.list() }));
  app.get('/v1/sip/extensions/:ext', async (req, res) => void res.json({ extension: await sip.get(req.params.ext) }));
  app.delete('/v1/sip/extensions/:ext', async (req, res) => {
    const removed = await sip.remove(req.params.ext, actor(req));
    logger.info({ extension: removed.extension }, 'SIP extension deleted');
    res.json({ extension: removed });
  });
  app.post('/v1/sip/extensions/:ext/password', async (req, res) => {
    const changed = await sip.setPassword(req.params.ext, body(req).password as string | undefined, actor(req));
    logger.info({ extension: changed.extension.extension }, 'SIP extension password changed');
    res.json(changed);
  });
  app.use((_req: Request, res: Response) => refuse(res, 'not_found', 'no such endpoint (see GET /v1/keys)'));

  app.use((err: Error & { type?: string; status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof KeyNotFoundError || err instanceof SipExtensionNotFoundError) return refuse(res, 'not_found', err.message);
    if (err instanceof SipAccountError) return refuse(res, 'bad_request', err.message);
    if (err instanceof AdminRequestError) return refuse(res, err.code, err.message);
    if (err.type === 'entity.too.large') return refuse(res, 'message_too_big', `the body is larger than ${MAX_BODY_BYTES} bytes`, true);
    if (err.type === 'entity.parse.failed') return refuse(res, 'bad_request', 'the body is not valid JSON');
    // Other body-parser refusals (wrong charset, aborted upload) are the client's: 400.
    if (err.status !== undefined && err.status >= 400 && err.status < 500) return refuse(res, 'bad_request', err.message);
    logger.error({ err: err.message }, 'admin request failed');
    res.status(ERRORS.unavailable.httpStatus).json({ error: 'unavailable', message: 'the key store is unavailable; try again' });
  });
  return app;
}
