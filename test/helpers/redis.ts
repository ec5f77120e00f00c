import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { GenericContainer, StartedTestContainer } from 'testcontainers';
import { Redis } from 'ioredis';
import { REDIS_IMAGE, requireDocker } from './env.js';

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

/**
 * One Redis for a whole test file: started before its first test and stopped after its last
 * (call it at the top level of the file). `skip` says why not when Docker is missing; `get()`
 * is the running Redis inside a test.
 */
export function redisForFile(): { skip?: string; get(): TestRedis } {
  const skip = requireDocker();
  let redis: TestRedis | undefined;
  if (!skip) {
    before(async () => {
      redis = await startRedis();
    });
    after(async () => redis?.stop());
  }
  return { skip, get: () => redis as TestRedis };
}
