/** The call page: reads the link in the address bar, makes a leaf when asked, and runs the call UI. */
import { CallLink, LinkError, formatCallLink, generateLeaf, parseCallLink, parseLeaf } from '@studioline/protocol';
import { AudioEngine, JitterStats, MOBILE_RATES, STUDIO_RATES } from './audio.js';
import type { CallState } from '../../src/call-core.js';
import { CallRates, formatBitrate } from '../../src/call-stats.js';
import { latencyLines } from './latency.js';
import type { RecordingFile } from './media-messages.js';
import { TalkControls } from './talk-controls.js';
import { TalkingIndicator } from './talking.js';
import { savedDevices, setupDevices } from './devices.js';
import { RemoteCall } from './remote-call.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function showProblem(text: string): void {
  const el = $('problem');
  el.textContent = text;
  el.hidden = false;
}

function setState(state: CallState | 'ready', text: string): void {
  const el = $('state');
  el.textContent = text;
  el.dataset.state = state;
  if (state === 'refused') showProblem(text);
  else if (state === 'in-call') $('problem').hidden = true;
}

/** Reads the address bar; makes a new leaf for #generate_leaf and puts it (and the key) in the fragment. */
function readLink(): CallLink | undefined {
  let link: CallLink;
  try {
    link = parseCallLink(location.href);
  } catch (err) {
    if (err instanceof LinkError) {
      showProblem(`This link cannot start a call: ${err.message}. Ask for a new link, or open /#apikey=KEY&generate_leaf to start a line.`);
      return undefined;
    }
    throw err;
  }
  if (link.generateLeaf) {
    const leaf = generateLeaf();
    link = { ...link, leaf, leafBytes: parseLeaf(leaf), generateLeaf: false };
  }
  // The preferred form: key and leaf in the fragment, which never reaches a server or a proxy log.
  const preferred = formatCallLink(location.origin, link.apiKey, link.leaf as string, link.mobile, link.capacity);
  history.replaceState(null, '', preferred);
  $<HTMLInputElement>('link').value = preferred;
  $('share').hidden = false;
  return link;
}

function run(): void {
  const link = readLink();
  if (!link) return;
  setState('ready', 'Ready to join');
  $('copy').addEventListener('click', async () => {
    const input = $<HTMLInputElement>('link');
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      input.select();
      document.execCommand('copy');
    }
    $('copy').textContent = 'Copied';
  });

  let engine: AudioEngine | undefined;
  let call: RemoteCall | undefined;
  let muted = false;
  const talking = new TalkingIndicator();
  const talk = new TalkControls(() => call);
  let recording = false;
  let jitter: JitterStats[] = [];

  const renderPeers = (peers: string[]) => {
    const list = $('peers');
    list.replaceChildren();
    if (!peers.length) {
      const li = document.createElement('li');
      li.className = 'empty';
      li.textContent = 'Nobody else yet';
      list.append(li);
    }
    for (const p of peers) {
      const li = document.createElement('li');
      li.dataset.sender = p;
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = `Peer ${p.slice(0, 6)}`;
      const meter = document.createElement('meter');
      meter.min = 0;
      meter.max = 1;
      meter.setAttribute('aria-label', `Level of peer ${p.slice(0, 6)}`);
      li.append(name, meter);
      list.append(li);
    }
  };

  $('start').addEventListener('click', async () => {
    $<HTMLButtonElement>('start').disabled = true;
    try {
      engine = await AudioEngine.start({
        rates: link.mobile ? MOBILE_RATES : STUDIO_RATES,
        processing: $<HTMLInputElement>('processing').checked,
        inputDevice: savedDevices().input,
        onJitterStats(stats) {
          jitter = stats;
        },
      });
    } catch (err) {
      $<HTMLButtonElement>('start').disabled = false;
      showProblem(`The microphone could not be opened: ${(err as Error).message}. Allow microphone access and try again.`);
      return;
    }
    $('join').hidden = true;
    const opened = engine;
    void setupDevices(opened.context, (deviceId) => opened.openMicrophone($<HTMLInputElement>('processing').checked, deviceId)).catch((err: Error) => showProblem(`The audio devices could not be listed: ${err.message}`));
    $('call').hidden = false;
    $('stat-rate').textContent = `${(engine.sampleRate / 1000).toFixed(0)} kHz${engine.sampleRate < 200_000 && !link.mobile ? ' (the most this browser allows)' : ''}`;
    // The call itself runs in a worker: audio goes worklet -> worker -> network -> worker -> worklet,
    // never through this thread (media-messages.ts).
    call = new RemoteCall();
    call.talkMode(talk.mode);
    call.on('state', ({ state, detail }) => setState(state, detail));
    call.on('peers', renderPeers);
    call.on('layers', ({ layers, codec }) => {
      // What this page sends and receives: the full rate (and the compact Opus layer for mobile peers), or the compact one only.
      const sends = layers.layers.map((l) => (l === 'full' ? 'full rate' : 'compact (Opus 48 kbit/s)')).join(' + ');
      $('stat-layers').textContent = `sends ${sends}; receives ${layers.receive === 'full' ? 'full rate' : 'compact'}${codec ? ` (${codec})` : ' (no Opus in this browser)'}`;
      $('stat-layers').dataset.layers = layers.layers.join(' ');
      $('stat-layers').dataset.receive = layers.receive;
    });
    let switches = 0;
    call.on('receiving', ({ layer, reason }) => {
      // The gateway steps this page down to the compact layer while its link queues the audio, and back after a calm spell.
      if (reason) switches++;
      const why = reason === 'congested' ? ' (stepped down: your link is queueing audio)' : reason === 'calm' ? ' (back up: your link is calm)' : '';
      $('stat-receiving').textContent = `${layer === 'full' ? 'full rate' : 'compact (Opus)'}${why}${switches ? `; ${switches} switch${switches === 1 ? '' : 'es'}` : ''}`;
      $('stat-receiving').dataset.layer = layer;
      $('stat-receiving').dataset.switches = String(switches);
    });
    call.on('figures', ({ inputLevel, peerLevels, transmitting, pttStartMs }) => {
      $<HTMLMeterElement>('input-level').value = inputLevel;
      talk.render(transmitting, pttStartMs);
      const levels = new Map(peerLevels);
      const now = performance.now();
      for (const li of $('peers').querySelectorAll<HTMLLIElement>('li[data-sender]')) {
        const level = levels.get(li.dataset.sender as string) ?? 0;
        const meter = li.querySelector('meter');
        if (meter) meter.value = level;
        li.dataset.talking = String(talking.update(li.dataset.sender as string, level, now));
      }
    });
    call.on('recording', ({ files, notRecorded }) => renderRecordings(files, notRecorded));
    call.on('failed', (message) => showProblem(`The call stopped: ${message}. Reload the page to join again.`));
    call.start(link, engine);
  });

  $('processing').addEventListener('change', () => void engine?.openMicrophone($<HTMLInputElement>('processing').checked));

  $('mute').addEventListener('click', () => {
    muted = !muted;
    call?.mute(muted);
    $('mute').setAttribute('aria-pressed', String(muted));
    $('mute').textContent = muted ? 'Unmute' : 'Mute';
  });

  $('record').addEventListener('click', () => {
    if (!call) return;
    recording = !recording;
    call.record(recording);
    $('record').setAttribute('aria-pressed', String(recording));
    $('record').textContent = recording ? 'Stop recording' : 'Record';
  });

  /** Offers one download per track and the mix; earlier recordings' links stay until the page closes. */
  const renderRecordings = (files: RecordingFile[], notRecorded: number) => {
    const list = document.createElement('ul');
    if (notRecorded) {
      const li = document.createElement('li');
      li.textContent = `${notRecorded} frames heard were not recorded: the recording reached its size limit.`;
      list.append(li);
    }
    for (const f of files) {
      const a = document.createElement('a');
      a.href = URL.createObjectURL(f.blob);
      a.download = f.name;
      a.textContent = `${f.label} (WAV)`;
      const li = document.createElement('li');
      li.append(a);
      list.append(li);
    }
    $('recordings').append(list);
    $('recordings').hidden = false;
  };

  $('leave').addEventListener('click', () => {
    // A recording in progress is kept: the worker finishes it, and its files stay offered below.
    call?.stop();
    void engine?.close();
    $('call').hidden = true;
  });

  // Bitrates from the counted bytes over a measured window (call-stats.ts).
  const rates = new CallRates();
  setInterval(() => {
    const latest = call?.latest;
    if (!latest || !engine) return;
    const f = latest.figures;
    rates.sample(performance.now(), f);
    $('stat-sent').textContent = formatBitrate(rates.sent.bitsPerSecond);
    $('stat-received').textContent = formatBitrate(rates.received.bitsPerSecond);
    $('stat-rtt').textContent = f.rttMs === undefined ? '–' : `${f.rttMs.toFixed(1)} ms`;
    const lines = latencyLines(jitter, f, { captureFillMs: latest.captureFillMs, captureHandoffMs: latest.captureHandoffMs, deviceLatency: engine.deviceLatency });
    $('stat-jitter').textContent = lines.jitter;
    $('stat-latency').textContent = lines.latency;
    const concealed = jitter.reduce((n, j) => n + j.concealed, 0);
    $('stat-lost').textContent = String(f.lost) + (concealed ? ` (${concealed} concealed)` : '');
    $('stat-decrypt').textContent = String(f.decryptFailed + f.replayed);
    const bitrates = { sentBps: rates.sent.bitsPerSecond, receivedBps: rates.received.bitsPerSecond };
    (window as unknown as { studioline: unknown }).studioline = {
      figures: f,
      bitrates,
      jitter,
      capture: { fillMs: latest.captureFillMs, handoffMs: latest.captureHandoffMs },
      state: $('state').dataset.state,
    };
  }, 500);
}

run();
