/**
 * Issue 14 item 4, push-to-talk from the command line: `studioline peer --talk FILE` transmits only
 * within its script's spans (each faded at both edges), and a listener hears exactly those spurts,
 * in time, with nothing counted lost; a script with a mistake is refused before joining, naming the
 * line.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NodePeer, ReceivedFrame, toneSource } from '@studioline/client';
import { MOBILE_SAMPLE_RATE, formatCallLink } from '@studioline/protocol';
import { Embedded, startEmbedded } from './helpers/embedded.js';
import { newLink } from './helpers/peers.js';
import { runCli } from './helpers/processes.js';

describe('studioline peer --talk', () => {
  let server: Embedded;
  const dir = mkdtempSync(join(tmpdir(), 'studioline-talk-'));
  before(async () => {
    server = await startEmbedded();
  });
  after(() => server?.stop());

  it('sends only within the spans of its script, and the listener hears those spurts with no loss counted', async () => {
    const link = newLink(server.url, server.apiKey);
    const cues = join(dir, 'cues.txt');
    writeFileSync(cues, '# two cues\ntalk from 0.5 s to 1.5 s\ntalk from 2.5 s to 3.0 s\n');
    const frames: ReceivedFrame[] = [];
    const listener = new NodePeer({ link, source: toneSource(1000, MOBILE_SAMPLE_RATE, 0), seconds: 5, listenOnly: true, sinks: [{ push: (f) => frames.push(f) }] });
    const listening = listener.run();
    const talker = await runCli(['peer', formatCallLink(link.origin, link.apiKey, link.leaf as string), '--talk', cues, '--seconds', '4', '--json']);
    assert.equal(talker.code, 0, talker.stderr);
    const heard = await listening;
    const sent = JSON.parse(talker.stdout);
    // Counters are the talker's frame clock, 10 ms a frame from the start of sending (pauses
    // included): spurts at 50-149 and 250-299, each with one more frame after the key came up,
    // its fade out.
    // (A talker behind real time skips frames, and its fade out then goes on the first frame after
    // the key came up that it did not skip.)
    const late = sent.skippedLate;
    const inSpans = (c: number) => (c >= 50 && c <= 150 + late) || (c >= 250 && c <= 300 + late);
    const ctrs = frames.map((f) => Number(f.ctr));
    assert.deepEqual(ctrs.filter((c) => !inSpans(c)), [], 'nothing outside the spans');
    assert.equal(frames.length, sent.sent, 'every frame sent arrived');
    // Missing: only what the talker skipped itself, behind real time on a busy machine; never the pauses.
    assert.ok(heard.lost <= sent.skippedLate, `lost ${heard.lost}, skipped by the talker ${sent.skippedLate}`);
    if (sent.skippedLate === 0) assert.deepEqual([ctrs[0], ctrs.at(-1), frames.length], [50, 300, 152]);
  });

  it('a script with a mistake is refused before joining, naming the line', async () => {
    const bad = join(dir, 'bad.txt');
    writeFileSync(bad, 'talk from 1 to 2\ntalk at 3\n');
    const link = newLink(server.url, server.apiKey);
    const r = await runCli(['peer', formatCallLink(link.origin, link.apiKey, link.leaf as string), '--talk', bad]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /bad\.txt line 2: expected "talk from A s to B s", got "talk at 3"/);
  });
});
