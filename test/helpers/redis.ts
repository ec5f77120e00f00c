import { randomBytes } from 'node:crypto';
import { GenericContainer, StartedTestContainer } from 'testcontainers';
import { Redis } from 'ioredis';
import { REDIS_IMAGE } from './env.js';

process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';

export interface TestRedis {
  url: string;
  container: StartedTestContainer;
  /** A fresh key prefix, so tests never see each other's keys. */
  prefix(): string;
  client(): Redis;
  stop(): Promise<void>;
}

/** A real Redis in a container (the image named by STUDIOLINE_REDIS_IMAGE, default redis:7). */
export async function startRedis(): Promise<TestRedis> {
  const container = await new GenericContainer(REDIS_IMAGE).withExposedPorts(6379).start();
  const url = `redis://127.0.0.1:${container.getMappedPort(6379)}`;
  const clients: Redis[] = [];
  return {
    url,
    container,
    prefix: () => `t${randomBytes(4).toString('hex')}:`,
    client() {
      const c = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
      c.on('error', () => undefined); // the container may be stopped on purpose
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.disconnect();
      await container.stop({ timeout: 1000 });
    },
  };
}
