/** The one ops server: /healthz, /readyz and /metrics, and a clear sentence when a port is taken. */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ListenError, listen } from '../src/listen.js';
import { startOpsServer } from '../src/ops-server.js';

const setting = { service: 'test server', portVariable: 'TEST_PORT', hostVariable: 'TEST_HOST', portOption: '--test-port' };

describe('the ops server', () => {
  it('answers /healthz, /readyz (200, then 503 when not ready) and /metrics, 404 elsewhere', async () => {
    let ready = true;
    const registry = new Registry();
    const ops = await startOpsServer({ registry, readiness: () => ({ ready, store: ready ? 'up' : 'down' }), port: 0, host: '127.0.0.1', setting });
    try {
      assert.deepEqual(await (await fetch(`${ops.url}/healthz`)).json(), { status: 'ok' });
      assert.equal((await fetch(`${ops.url}/readyz`)).status, 200);
      ready = false;
      const notReady = await fetch(`${ops.url}/readyz`);
      assert.equal(notReady.status, 503);
      assert.deepEqual(await notReady.json(), { ready: false, store: 'down' });
      const metrics = await fetch(`${ops.url}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get('content-type') ?? '', /text\/plain/);
      assert.equal((await fetch(`${ops.url}/other`)).status, 404);
    } finally {
      await ops.close();
    }
  });

  it('says which port is taken and which setting changes it', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    try {
      await assert.rejects(listen(createServer(), port, '127.0.0.1', setting), (err: ListenError) => {
        assert.equal(err.reason, 'EADDRINUSE');
        assert.equal(err.message, `the test server cannot listen on 127.0.0.1:${port}: the port is already in use (another Studioline?). Stop that process, or set TEST_PORT (or --test-port) to another port`);
        return true;
      });
    } finally {
      taken.close();
    }
  });
});
