import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseChannelTimeline, parseTalkTimeline } from '../src/talk-timeline.js';

it('a push-to-talk script: one span a line, comments and blank lines skipped, mistakes named by line', () => {
  assert.deepEqual(parseTalkTimeline('# cues\ntalk from 1.0 s to 3.5 s\n\nTALK FROM 5 to 6.25\n'), [
    [1, 3.5],
    [5, 6.25],
  ]);
  assert.throws(() => parseTalkTimeline('talk from 1 to 2\ntalk at 3\n', 'cues.txt'), /cues\.txt line 2: expected "talk from A s to B s", got "talk at 3"/);
  assert.throws(() => parseTalkTimeline('talk from 3 to 2'), /must end after it starts/);
  assert.throws(() => parseTalkTimeline('talk from 1 to 3\ntalk from 2 to 4'), /line 2: starts at 2 s, before the span above ends \(3 s\)/);
  assert.throws(() => parseTalkTimeline('# nothing\n'), /holds no/);
});

it('a script for several channels: "channel N" by number or name, channel 1 without it, each channel its own order', () => {
  const spans = parseChannelTimeline('talk from 0 to 1\nchannel 2 talk from 0.5 s to 1.5 s\nchannel cams talk from 0.2 to 0.4\nchannel 1 talk from 2 to 3\n', 'cues.txt', ['1', '2', 'cams']);
  assert.deepEqual([...spans], [
    [0, [[0, 1], [2, 3]]],
    [1, [[0.5, 1.5]]],
    [2, [[0.2, 0.4]]],
  ]);
  assert.throws(() => parseChannelTimeline('channel 4 talk from 1 to 2', 'cues.txt', ['1', '2', 'cams']), /cues\.txt line 1: there is no channel "4" \(the channels are 1, 2, 3 \(cams\)\)/);
  assert.throws(() => parseTalkTimeline('talk from 1 to 2\nchannel 2 talk from 1 to 2', 'cues.txt'), /cues\.txt line 2: there is no channel "2"/);
  assert.throws(() => parseChannelTimeline('channel 2 talk from 1 to 3\nchannel 2 talk from 2 to 4', 'c', ['1', '2']), /line 2: starts at 2 s, before the span above ends \(3 s\)/);
});
