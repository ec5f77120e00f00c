/**
 * Issue 14 item 4, several channels from the command line: `studioline peer LINK --channel
 * NAME=LINK --talk FILE` hears both lines over one connection and talks into a channel only within
 * its script's spans; mistakes (a channel the script names that does not exist, a bad volume, a
 * link that is not one) are refused with exit 2 before joining, naming the line or the option.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NodePeer, ReceivedFrame, toneSource } from '@studioline/client';
import { CallLink, STUDIO_SAMPLE_RATE, formatCallLink } from '@studioline/protocol';
import { Embedded, metricValue, startEmbedded } from './helpers/embedded.js';
import { newLink } from './helpers/peers.js';
import { runCli } from './helpers/processes.js';

const text = (link: CallLink) => formatCallLink(link.origin, link.apiKey, link.leaf as string);

describe('studioline peer --channel', { timeout: 120_000 }, () => {
  let server: Embedded;
  const dir = mkdtempSync(join(tmpdir(), 'studioline-channels-'));
  before(async () => {
    server = await startEmbedded();
  });
  after(() => server?.stop());

  it('hears two lines over one connection and talks into channel 2 only within its spans', async () => {
    const [desk, cams] = [newLink(server.url, server.apiKey), newLink(server.url, server.apiKey)];
    const cues = join(dir, 'cues.txt');
    writeFileSync(cues, '# cams only\nchannel cams talk from 0.5 s to 1.5 s\n');
    const onDesk: ReceivedFrame[] = [];
    const onCams: ReceivedFrame[] = [];
    const a = new NodePeer({ link: desk, source: toneSource(440, STUDIO_SAMPLE_RATE), seconds: 8, compact: true, sinks: [{ push: (f) => onDesk.push(f) }], peerTimeoutMs: 30_000 });
    const b = new NodePeer({ link: cams, source: toneSource(1000, STUDIO_SAMPLE_RATE), seconds: 8, compact: true, sinks: [{ push: (f) => onCams.push(f) }], peerTimeoutMs: 30_000 });
    const runs = [a.run(), b.run()];
    const connections = metricValue(await server.metrics(), 'studioline_gateway_connections_total');
    const r = await runCli(['peer', text(desk), '--channel', `cams=${text(cams)}`, '--talk', cues, '--seconds', '4', '--json']);
    assert.equal(r.code, 0, r.stderr);
    await Promise.all(runs);
    assert.equal(metricValue(await server.metrics(), 'studioline_gateway_connections_total') - connections, 3, 'the CLI peer used one connection');
    const figures = JSON.parse(r.stdout) as { channels: { name: string; sent: number; received: number; compactReceived: number }[]; skippedLate: number };
    const [one, two] = figures.channels;
    assert.deepEqual([one.name, two.name], ['1', 'cams']);
    assert.ok(one.received > 100 && two.received > 100, `heard both lines: ${one.received}, ${two.received}\n${r.stdout}\n${r.stderr}\n${(await server.metrics()).split('\n').filter((l) => /^studioline_(gateway|relay)_frame_drops_total\{/.test(l)).join(', ')}`);
    assert.equal(two.compactReceived, two.received, 'channel 2 came on the compact layer');
    assert.equal(onDesk.length, 0, 'nothing went into channel 1');
    assert.equal(one.sent, 0);
    const ctrs = onCams.map((f) => Number(f.ctr));
    assert.deepEqual(ctrs.filter((c) => c < 50 || c > 150 + figures.skippedLate), [], 'channel 2 only within its span');
    assert.equal(onCams.length, two.sent, 'every frame sent into channel 2 arrived');
  });

  it('refuses mistakes with exit 2, naming the line or the option', async () => {
    const [desk, cams] = [newLink(server.url, server.apiKey), newLink(server.url, server.apiKey)];
    const bad = join(dir, 'bad.txt');
    writeFileSync(bad, 'talk from 0 to 1\nchannel 3 talk from 1 to 2\n');
    const cases: [string[], RegExp][] = [
      [['--channel', text(cams), '--talk', bad], /bad\.txt line 2: there is no channel "3" \(the channels are 1, 2\)/],
      [['--channel', text(cams), '--volume', '3=0.5'], /--volume 3=0\.5: expected N=GAIN with N a channel \(1, 2\)/],
      [['--channel', text(cams), '--volume', '2=9'], /--volume 2=9: the gain is a number from 0 to 4/],
      [['--channel', 'cams=not a link'], /--channel cams: not a URL/],
      [['--channel', `x=${text(cams)}`, '--channel', `x=${text(cams)}`], /there is already a channel called "x"/],
      [['--mute', 'desk'], /--mute desk: there is no such channel \(1\)/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['peer', text(desk), ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const help = await runCli(['peer', '--help']);
    assert.match(help.stdout, /--channel \[NAME=\]LINK/);
    assert.match(help.stdout, /channel 2 talk from 1\.0 s to 3\.5 s/);
  });
});
