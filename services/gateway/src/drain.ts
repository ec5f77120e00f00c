/**
 * Drain, the sessions' part of a shutdown: after `drainDelayMs` (so that load balancers have seen
 * readiness fail) every session is closed with `draining` (1001), so its peers reconnect through
 * another gateway; sockets still open a second later, or at `drainTimeoutMs`, are cut.
 */
import { Sessions } from './sessions.js';

/** After a drain's close frames, sockets still open this much later are cut. */
const CLOSE_GRACE_MS = 1000;

export async function drainSessions(sessions: Sessions, options: { drainDelayMs: number; drainTimeoutMs: number }): Promise<void> {
  const deadline = Date.now() + options.drainTimeoutMs;
  if (sessions.size) await sleep(Math.min(options.drainDelayMs, options.drainTimeoutMs));
  for (const session of sessions.values()) sessions.refuse(session, 'draining');
  // Clients reconnect on the draining message; a close handshake that a proxy holds half-open
  // gets a second, then the socket is cut.
  const closeBy = Math.min(deadline, Date.now() + CLOSE_GRACE_MS);
  while (sessions.size && Date.now() < closeBy) await sleep(50);
  for (const session of sessions.values()) session.ws.terminate();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
