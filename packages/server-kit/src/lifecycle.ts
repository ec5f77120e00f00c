import type { Logger } from './logger.js';

export interface Destroyable {
  destroy(): Promise<void>;
}

/**
 * Destroys `service` on the first SIGTERM or SIGINT (a second one while it drains is logged and
 * ignored). The process then ends by itself once nothing is left running: no process.exit().
 */
export function destroyOnSignal(service: Destroyable, logger: Logger): void {
  let destroying = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (destroying) {
      logger.warn({ signal }, 'already shutting down');
      return;
    }
    destroying = true;
    logger.info({ signal }, 'shutting down');
    service.destroy().then(
      () => logger.info('stopped'),
      (err: Error) => {
        logger.error({ err: err.message }, 'shutdown failed');
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** Runs each cleanup step even when an earlier one throws; rethrows the first error at the end. */
export async function runAll(steps: (() => unknown)[]): Promise<void> {
  let first: unknown;
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}

/** Memoises an async close so that it runs once and every caller gets the same promise. */
export function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}
