import { readFileSync, writeFileSync } from 'node:fs';
import { Command, positiveNumber } from './command.js';
import { CliError } from './exit-codes.js';
import { parseTalkTimeline } from './talk-timeline.js';
import { formatCallLink, generateLeaf, parseCallLink, parseLeaf, MOBILE_SAMPLE_RATE, STUDIO_SAMPLE_RATE } from '@studioline/protocol';
import { AudioSource, NodePeer, Pcm, PeerSummary, SenderPlayout, SessionIdentity, createHostedLink, createIdentity, decodeWav, encodeWav, toneSource, wavSource } from '@studioline/client';
import { MembershipAction, followMembership, formatMembership, parseAction } from './membership-actions.js';

export interface PeerCommandOptions {
  link: string;
  tone?: number;
  wav?: string;
  seconds?: number;
  /** One WAV per sender heard: OUT.wav -> OUT.<sender>.wav. */
  record?: string;
  /** With `record`: also the mix of all senders, aligned by time, to OUT.wav itself. */
  mix?: boolean;
  json: boolean;
  wait: boolean;
  /** Push-to-talk spans ([from, to) seconds from the start of sending): transmit only then. */
  talk?: [number, number][];
  /** Send nothing: only listen (and record). */
  listen?: boolean;
  /** The display name on a line with a host; with #generate_leaf it makes such a line, this peer its host. */
  name?: string;
  /** Avatar colour, 0xRRGGBB. */
  colour?: number;
  /** The host's scripted membership actions. */
  actions?: MembershipAction[];
}

/** `heard.wav` -> `heard.<sender>.wav` (and `heard` -> `heard.<sender>.wav`). */
export function trackFileName(out: string, sender: string): string {
  const dot = out.toLowerCase().endsWith('.wav') ? out.length - 4 : out.length;
  return `${out.slice(0, dot)}.${sender}.wav`;
}

export function formatSummary(s: PeerSummary): string {
  const sent = s.layer === 'compact' ? `${s.sent} (compact layer only)` : s.compactSent ? `${s.sent} (+${s.compactSent} on the compact layer)` : `${s.sent}`;
  return `frames sent ${sent}, received ${s.received}, lost ${s.lost}, replayed ${s.replayed}, failed to decrypt ${s.decryptFailed}` +
    (s.fecRecovered + s.plcConcealed ? `, rebuilt ${s.fecRecovered} from FEC and concealed ${s.plcConcealed}` : '') +
    (s.reconnects ? `, reconnects ${s.reconnects}` : '') +
    (s.layerSwitches.length ? `, layer switches ${s.layerSwitches.length} (${s.layerSwitches.map((w) => w.layer).join(' > ')})` : '') +
    (s.unsent ? `, not sent (disconnected or backlogged) ${s.unsent}` : '') +
    (s.membership ? `\n${formatMembership(s.membership)}` : '');
}

/** What a listener's jitter buffer did with one sender's audio (the page shows the same figures). */
export function formatPlayout(p: SenderPlayout): string {
  return `jitter buffer for sender ${p.sender}: frames waited ${p.residenceMs.toFixed(1)} ms (target ${p.targetMs.toFixed(1)} ms, arrival jitter ${p.jitterMs.toFixed(1)} ms); played ${p.played} of ${p.pushed}, late ${p.late}, concealed ${p.concealed}, underruns ${p.underruns}`;
}

/** `studioline peer LINK`: joins, sends a tone or a WAV at real time, records each sender it hears. */
export async function runPeer(options: PeerCommandOptions): Promise<PeerSummary> {
  let link = parseCallLink(options.link);
  let identity: SessionIdentity | undefined;
  if (link.generateLeaf && options.name !== undefined) {
    // A line with a host: this peer holds the host's signing key, whose public half is in the link.
    const hosted = await createHostedLink(link.origin, link.apiKey, { mobile: link.mobile, peers: link.capacity });
    process.stderr.write(`New line, with you as its host. Share this link privately with the other peers:\n  ${hosted.text}\n`);
    link = hosted.link;
    identity = await createIdentity(options.name, { signing: hosted.signing, colour: options.colour });
  } else if (link.generateLeaf) {
    const leaf = generateLeaf();
    const full = formatCallLink(link.origin, link.apiKey, leaf, link.mobile, link.capacity);
    process.stderr.write(`New line. Share this link privately with the other peer:\n  ${full}\n`);
    link = { ...link, leaf, leafBytes: parseLeaf(leaf), generateLeaf: false };
  }
  let source: AudioSource;
  let seconds = options.seconds;
  if (options.wav) {
    const pcm = decodeWav(readFileSync(options.wav));
    source = wavSource(pcm);
    seconds ??= pcm.samples.length / pcm.sampleRate;
  } else {
    source = toneSource(options.tone ?? 440, link.mobile ? MOBILE_SAMPLE_RATE : STUDIO_SAMPLE_RATE);
  }
  if (link.hostKey && !identity) identity = await createIdentity(options.name ?? `peer-${Math.random().toString(16).slice(2, 6)}`, { colour: options.colour });
  if (options.actions?.length && !(identity && link.hostKey)) throw new CliError('--exclude and --promote are for the host of a line with membership: make one with --name and a #generate_leaf link');
  const say = (m: string) => process.stderr.write(`studioline peer: ${m}\n`);
  const peer = new NodePeer({
    identity,
    onMembership: (membership) => followMembership(membership, options.actions ?? [], say),
    link,
    source,
    seconds: seconds ?? 10,
    waitForPeer: options.wait,
    talk: options.talk,
    listenOnly: options.listen,
    record: Boolean(options.record),
    playout: true,
    // Mobile peers on the line hear this one through the compact layer (a mobile link sends only that).
    compact: true,
    onProgress: (m) => process.stderr.write(`studioline peer: ${m}\n`),
  });
  const summary = await peer.run();
  if (options.record) writeRecording(options.record, summary, Boolean(options.mix));
  for (const p of summary.playout ?? []) process.stderr.write(`studioline peer: ${formatPlayout(p)}\n`);
  const { recording: _recording, tracks: _tracks, ...figures } = summary;
  process.stdout.write(options.json ? JSON.stringify(figures) + '\n' : formatSummary(summary) + '\n');
  return summary;
}

function writeRecording(out: string, summary: PeerSummary, mix: boolean): void {
  const say = (m: string) => process.stderr.write(`studioline peer: ${m}\n`);
  const seconds = (pcm: Pcm) => (pcm.samples.length / pcm.sampleRate).toFixed(2);
  const tracks = summary.tracks ?? [];
  if (tracks.length === 0) say('heard nobody: nothing recorded');
  if (summary.notRecorded) say(`${summary.notRecorded} frames heard were not recorded (the recording reached its size limit)`);
  for (const track of tracks) {
    const file = trackFileName(out, track.sender);
    writeFileSync(file, encodeWav(track));
    say(`recorded ${seconds(track)} s of sender ${track.sender} at ${track.sampleRate} Hz to ${file}${track.missing ? ` (${track.missing} missing frames as silence)` : ''}`);
  }
  if (mix && summary.recording && tracks.length) {
    writeFileSync(out, encodeWav(summary.recording));
    say(`mixed ${tracks.length} track${tracks.length === 1 ? '' : 's'} (${seconds(summary.recording)} s at ${summary.recording.sampleRate} Hz) to ${out}`);
  }
}

export const peerCommand: Command = {
  name: 'peer',
  summary: 'join a call from the terminal: send a tone or a WAV, record what arrives',
  usage: 'LINK [options]',
  description: `Joins the line of LINK (make one with \`studioline link\`), waits for another peer, then sends a
tone (default 440 Hz) or a WAV file at real time in 10 ms frames for --seconds, records what the
other peers send, and prints: frames sent, received, lost, replayed, failed to decrypt. Each frame
also goes out as Opus (the compact layer) for mobile peers; a link with mobile=1 sends and receives
only that, at 48 kHz. When its link queues the audio it receives, the gateway steps it down to the
compact layer, and back up after a calm spell (each switch is printed). It reconnects by itself
(with a new sender id) when a gateway drains or the connection drops. A link with #generate_leaf
makes a new line and prints its link to share. With --talk it transmits only within the spans of a
push-to-talk script, faded at each edge as the page does; with --listen it sends nothing.

With --name and #generate_leaf the new line has a host, this peer (its public key is in the link,
host=): names, colours and each peer's keys travel end to end encrypted, the host admits each peer
that opens the link, and --exclude moves everybody else to a new line whose key only they get; the
new link is printed to share. A peer leaving rekeys the same way. Any peer joins such a line
(--name sets its name); membership messages it refuses (forged, replayed, cut short) are counted in
the last line it prints.`,
  options: {
    tone: { type: 'string', value: 'HZ', description: 'send a sine tone of this frequency (default 440)' },
    wav: { type: 'string', value: 'FILE', description: 'send this WAV file instead of a tone' },
    seconds: { type: 'string', value: 'N', description: 'how long to send (default 10, or the WAV\'s length)' },
    record: { type: 'string', value: 'OUT.wav', description: 'write what each other peer sent to OUT.<sender>.wav (one file per sender)' },
    mix: { type: 'boolean', description: 'with --record: also write OUT.wav, every sender mixed, aligned by time' },
    json: { type: 'boolean', description: 'print the figures as one JSON line' },
    'no-wait': { type: 'boolean', description: 'start sending at once, without waiting for another peer' },
    talk: { type: 'string', value: 'FILE', description: 'push-to-talk script: lines "talk from 1.0 s to 3.5 s" (seconds from the start of sending)' },
    listen: { type: 'boolean', description: 'listen only: send nothing' },
    name: { type: 'string', value: 'NAME', description: 'the name others see (at most 64 bytes); with #generate_leaf, makes a line with you as its host' },
    colour: { type: 'string', value: 'RRGGBB', description: 'an avatar colour others see, in hex' },
    exclude: { type: 'string', value: 'WHO[@S]', description: 'as host: exclude the peer of that name (or id prefix) S seconds after joining (default 2); prints the new link' },
    promote: { type: 'string', value: 'WHO[@S]', description: 'as host: let that peer exclude and admit too (it acts when the host is away)' },
  },
  positionals: { min: 1, max: 1, names: ['LINK'] },
  examples: [
    ['npx studioline peer "$(cat call.link)" --tone 440 --seconds 10', 'one side of a call, from a link kept in a file'],
    ['npx studioline peer "$LINK" --wav voice.wav --record heard.wav', 'send a recording and keep what comes back'],
    ['npx studioline peer "$LINK" --talk cues.txt --seconds 10', 'talk only at the cues of cues.txt (e.g. "talk from 1.0 s to 3.5 s")'],
    ['npx studioline peer "https://HOST/#apikey=KEY&generate_leaf&peers=4" --name desk --exclude cam2@30 --seconds 60', 'host a line, exclude the peer called cam2 after 30 s'],
    ['npx studioline peer "$LINK" --name cam2', 'join a line with a host under a name'],
  ],
  async run({ values, positionals }) {
    if (values.tone !== undefined && values.wav !== undefined) throw new CliError('choose --tone or --wav, not both');
    if (values.mix && values.record === undefined) throw new CliError('--mix needs --record OUT.wav');
    if (values.talk !== undefined && values.listen) throw new CliError('choose --talk FILE or --listen, not both');
    const talkFile = values.talk as string | undefined;
    let talk: [number, number][] | undefined;
    if (talkFile !== undefined) {
      let text: string;
      try {
        text = readFileSync(talkFile, 'utf8');
      } catch (err) {
        throw new CliError(`cannot read the push-to-talk script ${talkFile}: ${(err as Error).message}`);
      }
      talk = parseTalkTimeline(text, talkFile);
    }
    const colour = values.colour === undefined ? undefined : /^#?[0-9a-fA-F]{6}$/.test(String(values.colour)) ? parseInt(String(values.colour).replace('#', ''), 16) : NaN;
    if (Number.isNaN(colour)) throw new CliError(`--colour takes six hex digits RRGGBB, got "${String(values.colour)}"`);
    await runPeer({
      link: positionals[0],
      tone: positiveNumber('tone', values.tone, 100_000),
      wav: values.wav as string | undefined,
      seconds: positiveNumber('seconds', values.seconds),
      record: values.record as string | undefined,
      mix: Boolean(values.mix),
      json: Boolean(values.json),
      wait: !values['no-wait'],
      talk,
      listen: Boolean(values.listen),
      name: values.name as string | undefined,
      colour,
      actions: [parseAction('exclude', values.exclude), parseAction('promote', values.promote)].filter((a): a is MembershipAction => a !== undefined),
    });
  },
};
