/**
 * What `studioline` exits with, so that scripts can tell a mistake in the command line from a
 * server that said no or could not be reached. Documented in the README ("Exit codes").
 */
import { LinkError } from '@studioline/protocol';
import { IdentityError, PeerError, WavError } from '@studioline/client';
import { ConfigError, ListenError } from '@studioline/server-kit';

export const EXIT = {
  /** Done. */
  ok: 0,
  /** An unexpected error: a bug (the stack trace is printed). */
  internal: 1,
  /** The command line or the configuration is wrong (unknown option, bad value, busy port): fix it and rerun. */
  usage: 2,
  /** The server answered and refused (wrong key or admin token, line full, unknown key id). */
  refused: 3,
  /** The server could not be reached (connection refused, unknown host, timeout). */
  unreachable: 4,
  /** The command ran but its check failed (selftest heard the wrong audio, no peer joined in time, certification thresholds). */
  failed: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error of the command line itself, with the exit code it ends with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.usage,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The exit code of a known error; undefined for anything else (a bug: the stack is printed). */
export function exitCodeFor(err: unknown): ExitCode | undefined {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof ConfigError || err instanceof LinkError || err instanceof WavError || err instanceof ListenError || err instanceof IdentityError) return EXIT.usage;
  if (err instanceof PeerError) {
    if (err.code === 'connect_failed') return EXIT.unreachable;
    if (err.code === 'no_peer') return EXIT.failed;
    if (err.code === 'bad_request' && err.closeCode === undefined) return EXIT.usage;
    return EXIT.refused;
  }
  const exitCode = (err as { exitCode?: unknown })?.exitCode;
  if (typeof exitCode === 'number' && Object.values(EXIT).includes(exitCode as ExitCode)) return exitCode as ExitCode;
  return undefined;
}
