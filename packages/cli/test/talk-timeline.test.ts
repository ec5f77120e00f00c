import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseTalkTimeline } from '../src/talk-timeline.js';

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
