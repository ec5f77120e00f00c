/**
 * `studioline peer`'s membership options (issue 14): the host's scripted actions
 * (`--exclude NAME@SECONDS`, `--promote NAME@SECONDS`) and what it prints of the membership: who
 * comes and goes, each new link after a rekey, and the membership messages it refused.
 */
import type { Membership, MembershipStats } from '@studioline/client';
import { CliError } from './exit-codes.js';

export interface MembershipAction {
  kind: 'exclude' | 'promote';
  /** A display name, or the start of a member's id (at least 4 characters). */
  who: string;
  /** Seconds after this peer joined. */
  atSeconds: number;
}

/** How long an action waits for its member to be on the line before it gives up (ms). */
const ACTION_WAIT_MS = 10_000;

/** `NAME` or `NAME@SECONDS` (default 2 s after joining). */
export function parseAction(kind: MembershipAction['kind'], value: string | boolean | undefined): MembershipAction | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  const at = text.lastIndexOf('@');
  const who = at < 0 ? text : text.slice(0, at);
  const atSeconds = at < 0 ? 2 : Number(text.slice(at + 1));
  if (!who || !(atSeconds >= 0 && atSeconds <= 86_400)) throw new CliError(`--${kind} takes NAME or NAME@SECONDS (seconds after joining, 0 to 86400), got "${text}"`);
  return { kind, who, atSeconds };
}

/** Runs the actions on their times and prints the membership's events to `say`. */
export function followMembership(membership: Membership, actions: MembershipAction[], say: (message: string) => void): void {
  let names = '';
  membership.on('roster', (entries) => {
    const now = entries.filter((e) => e.presence.size > 0).map((e) => `${e.name || e.id.slice(0, 8)}${e.role === 'member' ? '' : ` (${e.role})`}`).sort().join(', ');
    if (now !== names) say(`on the line: ${(names = now) || 'nobody yet'}`);
  });
  // The new link holds the API key and the leaf, as the first one did: printed for the person to share, never logged.
  membership.on('moved', ({ text }) => say(`the line moved to a new link; share it privately with who stays:\n  ${text}`));
  membership.on('excluded', () => say('the host excluded this peer'));
  const joinedAt = performance.now();
  for (const action of actions) {
    const run = async () => {
      const deadline = performance.now() + ACTION_WAIT_MS;
      for (;;) {
        try {
          if (action.kind === 'exclude') await membership.exclude(action.who);
          else await membership.promote(action.who);
          if (action.kind === 'promote') say(`promoted ${action.who}`);
          return;
        } catch (err) {
          if (performance.now() > deadline) return say(`could not ${action.kind} ${action.who}: ${(err as Error).message}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    };
    setTimeout(() => void run(), Math.max(0, joinedAt + action.atSeconds * 1000 - performance.now()));
  }
}

/** The membership counter line of the summary. */
export function formatMembership(m: MembershipStats): string {
  const refused = Object.values(m.rejected).reduce((a, b) => a + b, 0);
  const reasons = Object.entries(m.rejected).filter(([, n]) => n > 0).map(([reason, n]) => `${reason} ${n}`).join(', ');
  return `membership: epoch ${m.epoch}, rekeys ${m.rekeys}, messages accepted ${m.accepted}, refused ${refused}${reasons ? ` (${reasons})` : ''}`;
}
