/**
 * Before joining a line with membership (issue 14): the name and avatar colour others will see
 * (remembered in this browser), and, on a line this page has just made, the choice to host it: the
 * page makes an Ed25519 key pair, puts its public half in the link (`host=`) and keeps the private
 * half in memory only (a non-extractable CryptoKey handed to the call worker). So the host is this
 * page for as long as it is open: a reloaded page joins as a member (promote someone first).
 */
import { CallLink, SigningKeyPair, generateSigningKeyPair } from '@studioline/protocol';
import { colourText } from './member-list.js';
import type { MemberInit } from './member-messages.js';

const STORAGE_KEY = 'studioline.member';

interface Saved {
  name?: string;
  colour?: number;
}

function load(): Saved {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '{}') as Saved;
    return typeof saved === 'object' && saved ? saved : {};
  } catch {
    return {};
  }
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

export class MemberSetup {
  private signing?: SigningKeyPair;

  /**
   * `fresh`: this page made the line's leaf just now, so it may host it. `changed` is called with
   * the link whenever hosting is turned on or off (the page shows the link to share).
   */
  constructor(private link: CallLink, fresh: boolean, private readonly changed: (link: CallLink) => void) {
    const saved = load();
    const name = $<HTMLInputElement>('member-name');
    const colour = $<HTMLInputElement>('member-colour');
    name.value = saved.name ?? '';
    name.placeholder = `guest-${Math.random().toString(16).slice(2, 6)}`;
    if (saved.colour !== undefined) colour.value = colourText(saved.colour);
    const save = () => localStorage.setItem(STORAGE_KEY, JSON.stringify({ name: name.value.trim() || undefined, colour: parseInt(colour.value.slice(1), 16) }));
    name.addEventListener('change', save);
    colour.addEventListener('change', save);
    const host = $<HTMLInputElement>('host-line');
    $('host-line-row').hidden = !fresh;
    host.addEventListener('change', () => void this.setHosting(host.checked));
    this.show();
  }

  private async setHosting(on: boolean): Promise<void> {
    const host = $<HTMLInputElement>('host-line');
    host.disabled = true;
    try {
      this.signing = on ? await generateSigningKeyPair() : undefined;
      const { hostKey: _, ...rest } = this.link;
      this.link = this.signing ? { ...rest, hostKey: this.signing.publicKey } : rest;
      this.changed(this.link);
      this.show();
    } finally {
      host.disabled = false;
    }
  }

  private show(): void {
    $('member-setup').hidden = !this.link.hostKey;
  }

  /** Hosting can no longer change once the call starts. */
  lock(): void {
    $<HTMLInputElement>('host-line').disabled = true;
  }

  get currentLink(): CallLink {
    return this.link;
  }

  /** Who this page is on the line (undefined on an open line). Remembers the name and colour. */
  identity(): MemberInit | undefined {
    if (!this.link.hostKey) return undefined;
    const nameInput = $<HTMLInputElement>('member-name');
    const name = nameInput.value.trim() || nameInput.placeholder;
    const colour = parseInt($<HTMLInputElement>('member-colour').value.slice(1), 16);
    localStorage.setItem(STORAGE_KEY, JSON.stringify({ name: nameInput.value.trim() || undefined, colour }));
    return { name, ...(Number.isInteger(colour) ? { colour } : {}), ...(this.signing ? { signing: this.signing } : {}) };
  }
}
