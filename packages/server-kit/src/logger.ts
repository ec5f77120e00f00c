import pino, { Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  /** pino level; default "info" (env LOG_LEVEL). */
  level?: string;
  /** Where JSON lines go; default stdout. Tests pass a stream to read what was logged. */
  destination?: pino.DestinationStream;
}

/**
 * A JSON logger for one component. Never give it a leaf key or a whole API key: log the key's id or
 * its 4-character prefix.
 */
export function createLogger(name: string, options: LoggerOptions = {}): Logger {
  const opts: pino.LoggerOptions = { name, level: options.level ?? 'info', base: { pid: process.pid } };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}
