/**
 * The page's channels (issue 14): a small named list of other lines, kept in this browser, that the
 * page joins beside its own over the same websocket. A channel is added by pasting its link; each
 * has a talk mode (hot, push-to-talk, listen only), a volume and a mute. Keys 2 to 9 are the
 * push-to-talk keys of the listed channels in order unless rebound (the page's own line is channel
 * 1, its key set in the talk controls).
 */
import { CallLink, LinkError, parseCallLink } from '@studioline/protocol';
import { isVolume } from '../../src/mix-gain.js';
import { TALK_MODES, TalkMode } from '../../src/talk-gate.js';
import type { ChannelStatus } from './channel-messages.js';
import type { RemoteCall } from './remote-call.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const STORAGE_KEY = 'studioline.channels';
/** Listed channels at most: keys 2 to 9. */
export const MAX_PAGE_CHANNELS = 8;

interface SavedChannel {
  name: string;
  /** The link as pasted (it holds the line's key: kept in this browser only, like the page's own). */
  link: string;
  mode: TalkMode;
  volume: number;
  muted: boolean;
  /** Its push-to-talk key when rebound (one character); else 2 to 9 by its place in the list. */
  key?: string;
}

function load(): SavedChannel[] {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '[]');
    if (!Array.isArray(saved)) return [];
    return saved
      .filter((c) => c && typeof c.name === 'string' && typeof c.link === 'string')
      .slice(0, MAX_PAGE_CHANNELS)
      .map((c) => ({
        name: c.name,
        link: c.link,
        mode: TALK_MODES.includes(c.mode) ? c.mode : 'ptt',
        volume: typeof c.volume === 'number' && isVolume(c.volume) ? c.volume : 1,
        muted: c.muted === true,
        ...(typeof c.key === 'string' && c.key.length === 1 ? { key: c.key } : {}),
      }));
  } catch {
    return [];
  }
}

function isTyping(target: EventTarget | null): boolean {
  return target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement;
}

export class ChannelList {
  private readonly channels = load();
  private readonly held = new Set<string>();

  constructor(private readonly call: () => RemoteCall | undefined) {
    $('channel-add').addEventListener('submit', (e) => {
      e.preventDefault();
      this.add($<HTMLInputElement>('channel-name').value.trim(), $<HTMLInputElement>('channel-link').value.trim());
    });
    document.addEventListener('keydown', (e) => {
      const channel = this.forKey(e.key);
      if (!channel || e.repeat || isTyping(e.target)) return;
      this.talk(channel, true, performance.timeOrigin + e.timeStamp);
    });
    document.addEventListener('keyup', (e) => {
      const channel = this.forKey(e.key);
      if (channel) this.talk(channel, false);
    });
    window.addEventListener('blur', () => {
      for (const c of this.channels) this.talk(c, false);
    });
    this.renderList();
  }

  /** The call started: it joins every listed channel. */
  start(): void {
    for (const c of this.channels) this.join(c);
  }

  /** What the call worker reports of each channel. */
  render(statuses: ChannelStatus[]): void {
    for (const s of statuses) {
      const li = document.querySelector<HTMLLIElement>(`#channel-list li[data-name="${CSS.escape(s.name)}"]`);
      if (!li) continue;
      li.dataset.state = s.state;
      li.dataset.transmitting = String(s.transmitting);
      li.dataset.peers = String(s.peers.length);
      if (s.pttStartMs !== undefined) li.dataset.pttStartMs = s.pttStartMs.toFixed(1);
      const state = li.querySelector('.state');
      if (state) state.textContent = `${s.detail}${s.layer === 'compact' ? ' (compact layer)' : ''}${s.transmitting ? ' – transmitting' : ''}`;
    }
  }

  private keyOf(c: SavedChannel): string {
    return c.key ?? String(this.channels.indexOf(c) + 2);
  }

  private forKey(key: string): SavedChannel | undefined {
    return this.channels.find((c) => this.keyOf(c) === key);
  }

  private talk(channel: SavedChannel, down: boolean, at = Date.now()): void {
    if (channel.mode !== 'ptt' || down === this.held.has(channel.name)) return;
    if (down) this.held.add(channel.name);
    else this.held.delete(channel.name);
    this.call()?.channel({ type: 'channel-talk', name: channel.name, down, at });
  }

  private add(name: string, text: string): void {
    const problem = $('channel-problem');
    problem.hidden = true;
    let link: CallLink;
    try {
      link = parseCallLink(text);
    } catch (err) {
      return this.problem(err instanceof LinkError ? `That is not a call link: ${err.message}.` : String(err));
    }
    if (link.generateLeaf || !link.leaf) return this.problem('That link has no line key (leaf): paste the link of a line in use.');
    if (link.origin !== location.origin) return this.problem(`That line is on another server (${link.origin}): channels share this page's connection to ${location.origin}.`);
    if (link.hostKey || link.mobile) return this.problem('Lines with a host and mobile=1 links cannot be channels yet: open them in a page of their own.');
    if (this.channels.length >= MAX_PAGE_CHANNELS) return this.problem(`At most ${MAX_PAGE_CHANNELS} channels (keys 2 to 9): remove one first.`);
    const finalName = name || `Channel ${this.channels.length + 2}`;
    if (this.channels.some((c) => c.name === finalName)) return this.problem(`There is already a channel called "${finalName}".`);
    const channel: SavedChannel = { name: finalName, link: text, mode: 'ptt', volume: 1, muted: false };
    this.channels.push(channel);
    this.save();
    this.renderList();
    this.join(channel);
    $<HTMLInputElement>('channel-link').value = '';
    $<HTMLInputElement>('channel-name').value = '';
  }

  private problem(text: string): void {
    const el = $('channel-problem');
    el.textContent = text;
    el.hidden = false;
  }

  private join(c: SavedChannel): void {
    this.call()?.channel({ type: 'channel-add', name: c.name, link: parseCallLink(c.link), mode: c.mode, volume: c.volume, muted: c.muted });
  }

  private remove(c: SavedChannel): void {
    this.channels.splice(this.channels.indexOf(c), 1);
    this.call()?.channel({ type: 'channel-remove', name: c.name });
    this.save();
    this.renderList();
  }

  private renderList(): void {
    const list = $('channel-list');
    list.replaceChildren();
    this.channels.forEach((c) => {
      const li = document.createElement('li');
      li.dataset.name = c.name;
      const title = document.createElement('span');
      title.className = 'name';
      title.textContent = c.name;
      // The push-to-talk key, rebindable (one character; a key another channel has is refused).
      const key = document.createElement('input');
      key.className = 'key';
      key.maxLength = 1;
      key.size = 1;
      key.value = this.keyOf(c);
      key.setAttribute('aria-label', `Push-to-talk key of ${c.name}`);
      key.addEventListener('input', () => {
        if (key.value.length !== 1) return;
        const taken = this.forKey(key.value);
        if (taken && taken !== c) return this.problem(`The key ${key.value} already talks on "${taken.name}".`);
        this.talk(c, false);
        c.key = key.value;
        this.save();
      });
      const state = document.createElement('span');
      state.className = 'state';
      const mode = document.createElement('select');
      mode.setAttribute('aria-label', `Talk on ${c.name}`);
      for (const [value, label] of [['ptt', 'push to talk'], ['hot', 'hot mic'], ['listen', 'listen only']]) mode.append(new Option(label, value, false, c.mode === value));
      mode.addEventListener('change', () => {
        c.mode = mode.value as TalkMode;
        this.call()?.channel({ type: 'channel-mode', name: c.name, mode: c.mode });
        this.save();
      });
      const volume = document.createElement('input');
      volume.type = 'range';
      volume.min = '0';
      volume.max = '2';
      volume.step = '0.05';
      volume.value = String(c.volume);
      volume.setAttribute('aria-label', `Volume of ${c.name}`);
      const mute = document.createElement('input');
      mute.type = 'checkbox';
      mute.checked = c.muted;
      mute.setAttribute('aria-label', `Mute ${c.name}`);
      const mix = () => {
        c.volume = Number(volume.value);
        c.muted = mute.checked;
        this.call()?.channel({ type: 'channel-volume', name: c.name, volume: c.volume, muted: c.muted });
        this.save();
      };
      volume.addEventListener('input', mix);
      mute.addEventListener('change', mix);
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.textContent = 'Remove';
      remove.setAttribute('aria-label', `Remove ${c.name}`);
      remove.addEventListener('click', () => this.remove(c));
      li.append(title, key, state, mode, volume, mute, remove);
      list.append(li);
    });
  }

  private save(): void {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(this.channels));
    } catch {
      /* private mode: the list lasts this page */
    }
  }
}
