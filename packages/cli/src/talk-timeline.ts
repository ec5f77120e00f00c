/**
 * A push-to-talk script for `studioline peer --talk FILE`: when the peer holds a channel's talk
 * key, one span a line, in seconds from the moment it starts sending:
 *
 *     # the director's cues
 *     talk from 1.0 s to 3.5 s
 *     channel 2 talk from 5 to 6.25
 *     channel cams talk from 7 s to 8 s
 *
 * A line without `channel` is channel 1's (the first link). A channel is named by its number (1 is
 * the first link, 2 the first --channel, ...) or by the NAME it was given (--channel NAME=LINK).
 * Blank lines and lines starting with # are skipped. Each channel's spans are kept in order and
 * must not overlap.
 */
import { CliError } from './exit-codes.js';

const LINE = /^(?:channel\s+(\S+)\s+)?talk\s+from\s+(\d+(?:\.\d+)?)\s*s?\s+to\s+(\d+(?:\.\d+)?)\s*s?$/i;

/**
 * Each channel's spans ([from, to) in seconds), by its index in `channels` (the channels' names, in
 * order; the first is channel 1), or a CliError naming the line that is wrong.
 */
export function parseChannelTimeline(text: string, file: string, channels: readonly string[]): Map<number, [number, number][]> {
  const byChannel = new Map<number, [number, number][]>();
  let any = false;
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const where = `${file} line ${i + 1}`;
    const m = LINE.exec(line);
    if (!m) throw new CliError(`${where}: expected "talk from A s to B s", got "${line}" (a channel's own line: "channel N talk from A s to B s")`);
    const index = m[1] === undefined ? 0 : channelIndex(m[1], channels);
    if (index < 0) {
      const known = channels.map((name, n) => (name === String(n + 1) ? name : `${n + 1} (${name})`)).join(', ');
      throw new CliError(`${where}: there is no channel "${m[1]}" (the channels are ${known})`);
    }
    const [from, to] = [Number(m[2]), Number(m[3])];
    if (!(to > from)) throw new CliError(`${where}: a span must end after it starts (${from} s to ${to} s)`);
    const spans = byChannel.get(index) ?? [];
    const last = spans[spans.length - 1];
    if (last && from < last[1]) throw new CliError(`${where}: starts at ${from} s, before the span above ends (${last[1]} s)`);
    spans.push([from, to]);
    byChannel.set(index, spans);
    any = true;
  }
  if (!any) throw new CliError(`${file} holds no "talk from A s to B s" line`);
  return byChannel;
}

/** The spans of a one-channel script (channel 1's), or a CliError naming the line that is wrong. */
export function parseTalkTimeline(text: string, file = 'the timeline'): [number, number][] {
  return parseChannelTimeline(text, file, ['1']).get(0) ?? [];
}

/** A channel's index from its number (1-based) or its name; -1 when there is none. */
function channelIndex(token: string, channels: readonly string[]): number {
  const byName = channels.indexOf(token);
  if (byName >= 0) return byName;
  const n = Number(token);
  return Number.isInteger(n) && n >= 1 && n <= channels.length ? n - 1 : -1;
}
