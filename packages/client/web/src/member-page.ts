/**
 * The page's part of a call on a line with membership (issue 14), once joined: the peer list by
 * name (member-list.ts), each move to a new line (the new link goes in the share box, with a note
 * to share it), an exclusion of this page, and the membership messages refused (forged, replayed,
 * cut short), counted where the user sees them.
 */
import type { MembershipStats } from '../../src/membership.js';
import type { JitterStats } from './audio.js';
import { MemberList } from './member-list.js';
import type { MemberReport } from './member-messages.js';
import { QualityMeter } from './peer-quality.js';
import type { RemoteCall } from './remote-call.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

export interface MemberPageHooks {
  /** The line moved: the page now shares (and its address bar holds) `text`. */
  showLink(text: string): void;
  showProblem(text: string): void;
}

/** Refused membership messages, as a person reads them: "3 (forged 2, replayed 1)". */
export function formatRefused(stats: MembershipStats): string {
  const total = Object.values(stats.rejected).reduce((a, b) => a + b, 0);
  const reasons = Object.entries(stats.rejected).filter(([, n]) => n > 0).map(([reason, n]) => `${reason} ${n}`);
  return reasons.length ? `${total} (${reasons.join(', ')})` : String(total);
}

export class MemberPage {
  readonly list: MemberList;
  private readonly quality = new QualityMeter();
  /** The latest stats, for tests and the figures the page exposes. */
  stats?: MembershipStats;
  moves = 0;

  constructor(call: RemoteCall, private readonly hooks: MemberPageHooks) {
    this.list = new MemberList($('peers'), (command) => call.memberAction(command));
    $('membership-stats').hidden = false;
    call.on('member', (report) => this.onReport(report));
  }

  private onReport(r: MemberReport): void {
    if (r.kind === 'roster') this.list.setRoster(r.members, r.canAct);
    else if (r.kind === 'moved') {
      this.moves++;
      this.hooks.showLink(r.text);
      const why = r.reason === 'excluded' ? `${r.gone || 'a peer'} was excluded` : `${r.gone || 'a peer'} left`;
      const note = $('moved-note');
      note.textContent = `The call moved to a new link because ${why}: share this one with whoever stays. The old link now leads to an empty line.`;
      note.dataset.moves = String(this.moves);
      note.hidden = false;
    } else if (r.kind === 'excluded') {
      this.hooks.showProblem('The host excluded you from this call. It goes on without you on a new link that you do not have.');
      $('state').dataset.state = 'excluded';
    } else if (r.kind === 'stats') {
      this.stats = r.stats;
      const refused = $('stat-membership-refused');
      refused.textContent = formatRefused(r.stats);
      refused.dataset.count = String(Object.values(r.stats.rejected).reduce((a, b) => a + b, 0));
      $('stat-epoch').textContent = r.stats.epoch < 0 ? 'waiting for the host to let you in' : `${r.stats.epoch} (${r.stats.rekeys} move${r.stats.rekeys === 1 ? '' : 's'} to a new line)`;
    } else if (r.kind === 'action' && r.error) this.hooks.showProblem(`Could not ${r.action} that peer: ${r.error}.`);
  }

  /** The playback worklet's per-sender figures (each peer's quality comes from them). */
  jitter(stats: JitterStats[]): void {
    this.quality.sample(performance.now(), stats);
  }

  /** Levels, ten times a second. */
  levels(levels: Map<string, number>): void {
    this.list.update(levels, (senders) => this.quality.of(senders), performance.now());
  }
}
