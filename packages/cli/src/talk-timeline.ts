/**
 * A push-to-talk script for `studioline peer --talk FILE`: when the peer holds its talk key, one
 * span a line, in seconds from the moment it starts sending:
 *
 *     # the director's cues
 *     talk from 1.0 s to 3.5 s
 *     talk from 5 to 6.25
 *
 * Blank lines and lines starting with # are skipped. Spans are kept in order and must not overlap.
 */
import { CliError } from './exit-codes.js';

const LINE = /^talk\s+from\s+(\d+(?:\.\d+)?)\s*s?\s+to\s+(\d+(?:\.\d+)?)\s*s?$/i;

/** The spans of `text` ([from, to) in seconds), or a CliError naming the line that is wrong. */
export function parseTalkTimeline(text: string, file = 'the timeline'): [number, number][] {
  const spans: [number, number][] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new CliError(`${file} line ${i + 1}: expected "talk from A s to B s", got "${line}"`);
    const [from, to] = [Number(m[1]), Number(m[2])];
    if (!(to > from)) throw new CliError(`${file} line ${i + 1}: a span must end after it starts (${from} s to ${to} s)`);
    const last = spans[spans.length - 1];
    if (last && from < last[1]) throw new CliError(`${file} line ${i + 1}: starts at ${from} s, before the span above ends (${last[1]} s)`);
    spans.push([from, to]);
  }
  if (!spans.length) throw new CliError(`${file} holds no "talk from A s to B s" line`);
  return spans;
}
