/**
 * The page's talk controls: hot mic, push-to-talk or listen-only, the push-to-talk key (1 by
 * default, rebindable) and a hold-to-talk button, remembered in this browser; and what the call
 * worker says back (transmitting now, how long the last push-to-talk took to start).
 */
import { TALK_MODES, TalkMode } from '../../src/talk-gate.js';
import type { RemoteCall } from './remote-call.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const STORAGE_KEY = 'studioline.talk';
export const DEFAULT_PTT_KEY = '1';

interface TalkPrefs {
  mode: TalkMode;
  key: string;
}

function loadPrefs(): TalkPrefs {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '{}');
    return { mode: TALK_MODES.includes(saved.mode) ? saved.mode : 'hot', key: typeof saved.key === 'string' && saved.key.length === 1 ? saved.key : DEFAULT_PTT_KEY };
  } catch {
    return { mode: 'hot', key: DEFAULT_PTT_KEY };
  }
}

/** Typing a name or a key into a field is not talking. */
function isTyping(target: EventTarget | null): boolean {
  return target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement;
}

export class TalkControls {
  private readonly prefs = loadPrefs();
  private down = false;

  constructor(private readonly call: () => RemoteCall | undefined) {
    const select = $<HTMLSelectElement>('talk-mode');
    const keyInput = $<HTMLInputElement>('ptt-key');
    select.value = this.prefs.mode;
    keyInput.value = this.prefs.key;
    select.addEventListener('change', () => {
      this.prefs.mode = select.value as TalkMode;
      this.call()?.talkMode(this.prefs.mode);
      this.save();
    });
    keyInput.addEventListener('input', () => {
      if (keyInput.value.length !== 1) return;
      this.prefs.key = keyInput.value;
      this.save();
    });
    // The key: its first keydown (not the auto-repeats) starts the spurt, timed from the event itself.
    document.addEventListener('keydown', (e) => {
      if (e.repeat || isTyping(e.target) || e.key !== this.prefs.key) return;
      this.set(true, performance.timeOrigin + e.timeStamp);
    });
    document.addEventListener('keyup', (e) => {
      if (e.key === this.prefs.key) this.set(false);
    });
    const button = $('ptt');
    button.addEventListener('pointerdown', (e) => this.set(true, performance.timeOrigin + e.timeStamp));
    for (const up of ['pointerup', 'pointerleave', 'pointercancel']) button.addEventListener(up, () => this.set(false));
    // A window that loses focus never sees the key come up: let go then.
    window.addEventListener('blur', () => this.set(false));
    this.render(false);
  }

  get mode(): TalkMode {
    return this.prefs.mode;
  }

  /** What the worker reported: whether frames go out now, and the last push-to-talk start delay. */
  render(transmitting: boolean, pttStartMs?: number): void {
    const state = $('talk-state');
    state.dataset.transmitting = String(transmitting);
    if (pttStartMs !== undefined) state.dataset.pttStartMs = pttStartMs.toFixed(1);
    $('ptt').hidden = this.prefs.mode !== 'ptt';
    $('ptt').textContent = `Hold to talk (key ${this.prefs.key})`;
    const idle = this.prefs.mode === 'ptt' ? `hold ${this.prefs.key} to talk` : this.prefs.mode === 'listen' ? 'listening only' : 'muted';
    state.textContent = transmitting ? `Transmitting${this.prefs.mode === 'ptt' && pttStartMs !== undefined ? ` (started ${pttStartMs.toFixed(0)} ms after the key)` : ''}` : `Not transmitting: ${idle}`;
  }

  private set(down: boolean, at = Date.now()): void {
    if (down === this.down || this.prefs.mode !== 'ptt') return;
    this.down = down;
    $('ptt').setAttribute('aria-pressed', String(down));
    this.call()?.talk(down, at);
  }

  private save(): void {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(this.prefs));
    } catch {
      /* private mode: the choice lasts this page */
    }
    this.render(false);
  }
}
