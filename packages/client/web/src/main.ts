/** The call page: reads the link in the address bar, makes a leaf when asked, and runs the call UI. */
import { CallLink, LinkError, audioLevel, formatCallLink, generateLeaf, parseCallLink, parseLeaf } from '@studioline/protocol';
import { AudioEngine, JitterStats, MOBILE_RATES, Resampler, STUDIO_RATES } from './audio.js';
import { CallCore, FrameSink } from '../../src/call-core.js';
import { CallRates, formatBitrate } from '../../src/call-stats.js';
import { browserCall, CallState } from './call.js';
import { CallRecording } from './recording.js';
import { latencyLines } from './latency.js';

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
  const preferred = formatCallLink(location.origin, link.apiKey, link.leaf as string, link.mobile);
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
  let call: CallCore | undefined;
  let muted = false;
  let recording: CallRecording | undefined;
  let jitter: JitterStats[] = [];
  const resamplers = new Map<string, Resampler>();
  const peerLevels = new Map<string, number>();

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
        onFrame(pcm) {
          const level = audioLevel(pcm);
          $<HTMLMeterElement>('input-level').value = muted ? 0 : (127 - level) / 127;
          if (muted) return;
          recording?.addLocal(pcm);
          void call?.send(pcm);
        },
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
    $('call').hidden = false;
    $('stat-rate').textContent = `${(engine.sampleRate / 1000).toFixed(0)} kHz${engine.sampleRate < 200_000 && !link.mobile ? ' (the most this browser allows)' : ''}`;
    call = browserCall(link, engine.sampleRate);
    call.on('state', ({ state, detail }) => setState(state, detail));
    call.on('peers', renderPeers);
    // Received frames go to playback: each sender converted to the page's rate, then its jitter buffer.
    const playback: FrameSink = {
      push({ sender, ctr, level, sampleRate, pcm }) {
        if (!engine) return;
        let r = resamplers.get(sender);
        if (!r || r.from !== sampleRate) {
          r?.close();
          resamplers.set(sender, (r = new Resampler(sampleRate, engine.sampleRate)));
        }
        peerLevels.set(sender, (127 - level) / 127);
        engine.play(sender, Number(ctr), r.process(pcm), level);
      },
      forget(sender) {
        engine?.forget(sender);
        resamplers.get(sender)?.close();
        resamplers.delete(sender);
        peerLevels.delete(sender);
      },
    };
    call.addSink(playback);
    // A refusal or a lost call reaches the screen through the state events.
    call.start().catch(() => undefined);
  });

  $('processing').addEventListener('change', () => void engine?.openMicrophone($<HTMLInputElement>('processing').checked));

  $('mute').addEventListener('click', () => {
    muted = !muted;
    $('mute').setAttribute('aria-pressed', String(muted));
    $('mute').textContent = muted ? 'Unmute' : 'Mute';
  });

  let stopRecordingSink: (() => void) | undefined;
  $('record').addEventListener('click', async () => {
    if (!recording) {
      if (!engine || !call) return;
      recording = new CallRecording(engine.sampleRate);
      stopRecordingSink = call.addSink(recording.recorder);
      $('record').setAttribute('aria-pressed', 'true');
      $('record').textContent = 'Stop recording';
      return;
    }
    await finishRecording();
  });

  /** Stops recording (if it is on) and offers its files. */
  const finishRecording = async () => {
    const done = recording;
    if (!done) return;
    recording = undefined;
    stopRecordingSink?.();
    $('record').setAttribute('aria-pressed', 'false');
    $('record').textContent = 'Record';
    renderRecordings(await done.files(), done.recorder.notRecorded);
  };

  /** Offers one download per track and the mix; earlier recordings' links stay until the page closes. */
  const renderRecordings = (files: { label: string; name: string; blob: Blob }[], notRecorded: number) => {
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
    // A recording in progress is kept: its files stay offered below after the call.
    void finishRecording();
    call?.stop();
    void engine?.close();
    $('call').hidden = true;
  });

  // Bitrates from the counted bytes over a measured window (call-stats.ts).
  const rates = new CallRates();
  setInterval(() => {
    if (!call || !engine) return;
    const f = call.figures();
    rates.sample(performance.now(), f);
    $('stat-sent').textContent = formatBitrate(rates.sent.bitsPerSecond);
    $('stat-received').textContent = formatBitrate(rates.received.bitsPerSecond);
    $('stat-rtt').textContent = f.rttMs === undefined ? '–' : `${f.rttMs.toFixed(1)} ms`;
    const lines = latencyLines(jitter, f.rttMs, engine);
    $('stat-jitter').textContent = lines.jitter;
    $('stat-latency').textContent = lines.latency;
    const concealed = jitter.reduce((n, j) => n + j.concealed, 0);
    $('stat-lost').textContent = String(f.lost) + (concealed ? ` (${concealed} concealed)` : '');
    $('stat-decrypt').textContent = String(f.decryptFailed + f.replayed);
    for (const li of $('peers').querySelectorAll<HTMLLIElement>('li[data-sender]')) {
      const meter = li.querySelector('meter');
      if (meter) meter.value = peerLevels.get(li.dataset.sender as string) ?? 0;
    }
    const bitrates = { sentBps: rates.sent.bitsPerSecond, receivedBps: rates.received.bitsPerSecond };
    (window as unknown as { studioline: unknown }).studioline = { figures: f, bitrates, jitter, state: $('state').dataset.state };
  }, 500);
}

run();
