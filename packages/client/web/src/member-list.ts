/**
 * The peer list on a line with membership (issue 14): each member by the name and avatar colour it
 * chose (from the encrypted roster), its role, whether it talks (level, with a hold), its connection
 * quality as heard here, and, for the host or a promoted member, Exclude and Promote buttons.
 * Senders on the line that have not said who they are yet are listed by their sender id.
 */
import type { MemberCommand, MemberView } from './member-messages.js';
import { PeerQuality, describeQuality } from './peer-quality.js';
import { TalkingIndicator } from './talking.js';

export function colourText(colour: number): string {
  return `#${colour.toString(16).padStart(6, '0')}`;
}

export class MemberList {
  private members: MemberView[] = [];
  private peers: string[] = [];
  private canAct = false;
  private readonly talking = new TalkingIndicator();

  constructor(private readonly list: HTMLElement, private readonly act: (command: MemberCommand) => void) {}

  /** The roster changed (or who may act). */
  setRoster(members: MemberView[], canAct: boolean): void {
    this.members = members;
    this.canAct = canAct;
    this.render();
  }

  /** The sender ids on the line this page sends on (the call core's peers). */
  setPeers(peers: string[]): void {
    this.peers = peers;
    this.render();
  }

  private render(): void {
    const known = new Set(this.members.flatMap((m) => m.senders));
    // Present members (this page first), then senders with no roster entry yet.
    const shown = this.members.filter((m) => m.you || m.senders.length > 0).sort((a, b) => Number(b.you) - Number(a.you) || a.name.localeCompare(b.name));
    const unnamed = this.peers.filter((p) => !known.has(p));
    this.list.replaceChildren(...shown.map((m) => this.memberItem(m)));
    if (!shown.some((m) => !m.you) && !unnamed.length) {
      const li = document.createElement('li');
      li.className = 'empty';
      li.textContent = 'Nobody else yet';
      this.list.append(li);
    }
    for (const sender of unnamed) {
      const li = this.item(`Peer ${sender.slice(0, 6)} (no name yet)`, undefined, [sender]);
      li.dataset.sender = sender;
      this.list.append(li);
    }
  }

  private memberItem(m: MemberView): HTMLLIElement {
    const li = this.item(m.you ? `${m.name} (you)` : m.name, m.colour, m.you ? [] : m.senders);
    li.dataset.member = m.id;
    li.dataset.name = m.name;
    li.dataset.role = m.role;
    li.dataset.admitted = String(m.admitted);
    if (m.role !== 'member') {
      const badge = document.createElement('span');
      badge.className = 'role';
      badge.textContent = m.role;
      li.querySelector('.name')?.after(badge);
    }
    if (!m.admitted && !m.you) {
      const waiting = document.createElement('span');
      waiting.className = 'hint';
      waiting.textContent = 'waiting for the host to let in';
      li.append(waiting);
    }
    if (this.canAct && !m.you) {
      const exclude = document.createElement('button');
      exclude.type = 'button';
      exclude.textContent = `Exclude ${m.name}`;
      exclude.addEventListener('click', () => {
        exclude.disabled = true;
        this.act({ action: 'exclude', id: m.id });
      });
      li.append(exclude);
      if (m.role === 'member' && m.admitted) {
        const promote = document.createElement('button');
        promote.type = 'button';
        promote.textContent = `Promote ${m.name}`;
        promote.title = 'Let this peer exclude and let in peers too (it acts when you are away)';
        promote.addEventListener('click', () => {
          promote.disabled = true;
          this.act({ action: 'promote', id: m.id });
        });
        li.append(promote);
      }
    }
    return li;
  }

  /** A row: avatar (initial on the chosen colour), name, and for a peer heard here a level meter and its quality. */
  private item(label: string, colour: number | undefined, senders: string[]): HTMLLIElement {
    const li = document.createElement('li');
    li.dataset.senders = senders.join(' ');
    const avatar = document.createElement('span');
    avatar.className = 'avatar';
    avatar.textContent = (label.trim()[0] ?? '?').toUpperCase();
    avatar.setAttribute('aria-hidden', 'true');
    if (colour !== undefined) {
      avatar.style.backgroundColor = colourText(colour);
      li.dataset.colour = colourText(colour);
    }
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = label;
    li.append(avatar, name);
    if (senders.length) {
      const meter = document.createElement('meter');
      meter.min = 0;
      meter.max = 1;
      meter.setAttribute('aria-label', `Level of ${label}`);
      const quality = document.createElement('span');
      quality.className = 'quality';
      li.append(meter, quality);
    }
    return li;
  }

  /** Levels (ten times a second) and qualities: meters, talking indicators, quality text. */
  update(levels: Map<string, number>, quality: (senders: string[]) => PeerQuality, now: number): void {
    for (const li of this.list.querySelectorAll<HTMLLIElement>('li[data-senders]')) {
      const senders = (li.dataset.senders as string).split(' ').filter(Boolean);
      if (!senders.length) continue;
      const level = Math.max(0, ...senders.map((s) => levels.get(s) ?? 0));
      const meter = li.querySelector('meter');
      if (meter) meter.value = level;
      li.dataset.talking = String(this.talking.update(li.dataset.member ?? senders[0], level, now));
      const q = quality(senders);
      li.dataset.quality = q.rating;
      const text = li.querySelector('.quality');
      if (text) text.textContent = describeQuality(q);
    }
  }
}
