/**
 * `studioline peer` on several channels over one connection (issue 14): the first link is channel 1,
 * each `--channel [NAME=]LINK` one more; `--volume N=GAIN` and `--mute N` set what is heard of a
 * channel (N its number or name); the talk script's `channel N talk from A s to B s` lines hold that
 * channel's key. Every mistake is a CliError (exit 2) naming the option or the line.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { CallLink, parseCallLink } from '@studioline/protocol';
import { AudioSource, ChannelPeer, ChannelPeerSummary, ChannelSummary, MAX_VOLUME, PeerChannel, encodeWav, isVolume } from '@studioline/client';
import { CliError } from './exit-codes.js';
import { parseChannelTimeline } from './talk-timeline.js';

const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;

export interface ChannelArgs {
  /** The first link (channel 1) and each --channel's value, in order. */
  first: string;
  channels: string[];
  volumes: string[];
  mutes: string[];
  /** The talk script's file, if any. */
  talkFile?: string;
  listen: boolean;
}

/** The channels of a command line, with their links, names, talk spans, volumes and mutes. */
export function parseChannels(args: ChannelArgs): PeerChannel[] {
  const channels: PeerChannel[] = [{ name: '1', link: channelLink(args.first, 'the link') }];
  for (const [i, value] of args.channels.entries()) {
    const number = i + 2;
    const eq = value.indexOf('=');
    const named = eq > 0 && NAME.test(value.slice(0, eq));
    const name = named ? value.slice(0, eq) : String(number);
    if (channels.some((c) => c.name === name)) throw new CliError(`--channel ${value.slice(0, 40)}: there is already a channel called "${name}"`);
    channels.push({ name, link: channelLink(named ? value.slice(eq + 1) : value, `--channel ${name}`) });
  }
  const origin = channels[0].link.websocketUrl;
  for (const c of channels) {
    if (c.link.websocketUrl !== origin) throw new CliError(`channel ${c.name} is on another server (${c.link.websocketUrl}) than channel 1 (${origin}): channels share one connection`);
  }
  const names = channels.map((c) => c.name);
  for (const value of args.volumes) {
    const m = /^([^=]+)=(.+)$/.exec(value);
    const index = m ? channelIndex(m[1], names) : -1;
    if (!m || index < 0) throw new CliError(`--volume ${value}: expected N=GAIN with N a channel (${names.join(', ')})`);
    const gain = Number(m[2]);
    if (!isVolume(gain)) throw new CliError(`--volume ${value}: the gain is a number from 0 to ${MAX_VOLUME}`);
    channels[index].volume = gain;
  }
  for (const value of args.mutes) {
    const index = channelIndex(value, names);
    if (index < 0) throw new CliError(`--mute ${value}: there is no such channel (${names.join(', ')})`);
    channels[index].muted = true;
  }
  if (args.listen) for (const c of channels) c.mode = 'listen';
  if (args.talkFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(args.talkFile, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read the push-to-talk script ${args.talkFile}: ${(err as Error).message}`);
    }
    // Every channel is push-to-talk: one that the script never names never transmits.
    const spans = parseChannelTimeline(text, args.talkFile, names);
    channels.forEach((c, i) => (c.talk = spans.get(i) ?? []));
  }
  return channels;
}

function channelLink(text: string, what: string): CallLink {
  let link: CallLink;
  try {
    link = parseCallLink(text);
  } catch (err) {
    throw new CliError(`${what}: ${(err as Error).message}`);
  }
  if (link.generateLeaf || !link.leafBytes) throw new CliError(`${what}: a channel needs a line's link with its leaf (make one with \`studioline link\`), not #generate_leaf`);
  if (link.hostKey) throw new CliError(`${what}: a line with a host (host=) cannot be a channel yet: join it on its own`);
  if (link.mobile) throw new CliError(`${what}: a mobile=1 link cannot be a channel yet: join it on its own`);
  return link;
}

function channelIndex(token: string, names: readonly string[]): number {
  const byName = names.indexOf(token);
  if (byName >= 0) return byName;
  const n = Number(token);
  return Number.isInteger(n) && n >= 1 && n <= names.length ? n - 1 : -1;
}

export interface ChannelRun {
  channels: PeerChannel[];
  source: AudioSource;
  seconds: number;
  wait: boolean;
  record?: string;
  mix: boolean;
  json: boolean;
}

/** Joins every channel over one connection, sends and records; prints a line per channel (or JSON). */
export async function runChannels(run: ChannelRun): Promise<ChannelPeerSummary> {
  const say = (m: string) => process.stderr.write(`studioline peer: ${m}\n`);
  const peer = new ChannelPeer({
    channels: run.channels,
    source: run.source,
    seconds: run.seconds,
    waitForPeer: run.wait,
    record: Boolean(run.record),
    compact: true,
    onProgress: (m) => say(`channel ${m}`),
  });
  const summary = await peer.run();
  if (run.record) {
    const out = run.record;
    const dot = out.toLowerCase().endsWith('.wav') ? out.length - 4 : out.length;
    for (const track of summary.tracks ?? []) {
      const file = `${out.slice(0, dot)}.${track.channel}.${track.sender}.wav`;
      writeFileSync(file, encodeWav(track));
      say(`recorded ${(track.samples.length / track.sampleRate).toFixed(2)} s of sender ${track.sender} on channel ${track.channel} at ${track.sampleRate} Hz to ${file}`);
    }
    if (!summary.tracks?.length) say('heard nobody: nothing recorded');
    if (run.mix && summary.recording && summary.tracks?.length) writeFileSync(out, encodeWav(summary.recording));
  }
  const { tracks: _tracks, recording: _recording, ...figures } = summary;
  process.stdout.write(run.json ? JSON.stringify(figures) + '\n' : summary.channels.map(formatChannel).join('\n') + '\n');
  return summary;
}

export function formatChannel(c: ChannelSummary): string {
  return `channel ${c.name}: frames sent ${c.sent}, received ${c.received}${c.compactReceived ? ` (${c.compactReceived} on the compact layer)` : ''}, lost ${c.lost}, replayed ${c.replayed}, failed to decrypt ${c.decryptFailed}` +
    (c.muted ? `, muted ${c.muted}` : '') +
    (c.reconnects ? `, reconnects ${c.reconnects}` : '') +
    (c.error ? ` (ended: ${c.error})` : '');
}
