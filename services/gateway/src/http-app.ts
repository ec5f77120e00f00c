import { existsSync } from 'node:fs';
import express from 'express';
import { Readiness, Registry, opsMiddleware } from '@studioline/server-kit';

export interface HttpAppOptions {
  registry: Registry;
  /** Serve /metrics here (false when it has its own port). */
  serveMetrics: boolean;
  readiness(): Readiness;
  webRoot?: string;
}

const PLACEHOLDER = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Studioline</title>
<body><h1>Studioline</h1><p>The gateway is running. Join a call with <code>studioline peer LINK</code>.</p></body></html>`;

/** /healthz (alive), /readyz (store reachable and not draining), /metrics, and the web client. */
export function createHttpApp(options: HttpAppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(opsMiddleware({ registry: options.serveMetrics ? options.registry : undefined, readiness: options.readiness }));
  if (options.webRoot && existsSync(options.webRoot)) {
    // The page talks only to this gateway: no third-party script, style, font or connection.
    app.use((_req, res, next) => {
      res.set({
        'Content-Security-Policy':
          "default-src 'self'; connect-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        'Referrer-Policy': 'no-referrer',
        'X-Content-Type-Options': 'nosniff',
        'Permissions-Policy': 'microphone=(self)',
      });
      next();
    });
    app.use(express.static(options.webRoot, { index: 'index.html' }));
  }
  else app.get('/', (_req, res) => void res.type('html').send(PLACEHOLDER));
  return app;
}
