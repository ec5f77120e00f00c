/**
 * The compact layer in Chromium (issue 13, item 1): a `mobile=1` page talks with a full-rate Node
 * peer through WebCodecs' Opus encoder and decoder in the page's call worker. Each hears the
 * other's tone; the page sent and received compact frames only (so WebCodecs encoded and decoded
 * them: the page has no other Opus), and says so on its screen.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { decodeWav, dominantFrequency } from '@studioline/client';
import { COMPACT_SAMPLE_RATE, generateLeaf, parseCallLink } from '@studioline/protocol';
import { launchBrowser, recordPage, requireChromium, toneWav } from './helpers/browser.js';
import { Embedded, startEmbedded } from './helpers/embedded.js';
import { tonePeer } from './helpers/peers.js';

const skip = requireChromium();

describe('a mobile page in Chromium', { skip }, () => {
  let server: Embedded;
  let browser: Browser;
  before(async () => {
    server = await startEmbedded();
    browser = await launchBrowser(toneWav(440));
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('a mobile=1 page and a full-rate Node peer hear each other through the compact layer (WebCodecs in the page)', async (t) => {
    const leaf = generateLeaf();
    const page = await (await browser.newContext({ acceptDownloads: true })).newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/#apikey=${server.apiKey}&leaf_${leaf}&mobile=1`);
    await page.getByRole('button', { name: 'Join call' }).click();
    await page.locator('#call').waitFor({ state: 'visible' });

    const node = tonePeer(parseCallLink(`${server.url}/#apikey=${server.apiKey}&leaf_${leaf}`), 1000, 7, { compact: true });
    const nodeRun = node.run();
    await page.locator('#state[data-state="in-call"]').waitFor({ timeout: 15_000 });
    await page.waitForTimeout(1000);
    const files = await recordPage(page, 3000);
    const figures = await page.evaluate(() => (window as any).studioline.figures);
    const summary = await nodeRun;

    const peerTracks = [...files.keys()].filter((label) => label.startsWith('Peer '));
    assert.equal(peerTracks.length, 1, `one peer track: ${[...files.keys()].join(', ')}`);
    const heard = decodeWav(files.get(peerTracks[0])!);
    const pageHeard = dominantFrequency(heard.samples, heard.sampleRate);
    const nodeTrack = summary.tracks?.[0];
    assert.ok(nodeTrack, 'the Node peer heard the page');
    const nodeHeard = dominantFrequency(nodeTrack.samples, nodeTrack.sampleRate);
    t.diagnostic(`page heard ${pageHeard.toFixed(2)} Hz at ${heard.sampleRate} Hz; Node peer heard ${nodeHeard.toFixed(2)} Hz at ${nodeTrack.sampleRate} Hz; page figures: sent ${figures.framesSent} (${figures.compactFramesSent} compact, ${figures.compactBytesSent} B), received ${figures.framesReceived} (${figures.compactFramesReceived} compact), lost ${figures.lost}, codec errors ${figures.codecErrors}`);

    assert.equal(heard.sampleRate, COMPACT_SAMPLE_RATE, 'the mobile page runs at 48 kHz');
    assert.ok(Math.abs(pageHeard - 1000) < 1, `the page heard ${pageHeard} Hz`);
    assert.ok(Math.abs(nodeHeard - 440) < 1, `the Node peer heard ${nodeHeard} Hz`);
    assert.equal(nodeTrack.sampleRate, COMPACT_SAMPLE_RATE, 'what the page sent was the compact layer');
    // The page sent and received compact frames only: its WebCodecs encoder made them, its decoder played them.
    assert.ok(figures.compactFramesSent > 300, `${figures.compactFramesSent} compact frames sent`);
    assert.equal(figures.framesSent, figures.compactFramesSent);
    assert.ok(figures.compactFramesReceived > 300);
    assert.equal(figures.framesReceived, figures.compactFramesReceived);
    assert.equal(figures.codecErrors, 0);
    assert.ok(figures.compactBytesSent / figures.compactFramesSent < 100, 'constant-bitrate 48 kbit/s frames');
    assert.equal(summary.compactReceived, summary.received, 'the Node peer received only compact frames from the page');
    assert.equal(summary.decryptFailed, 0);
    // The screen says which layers the page uses, and through what.
    assert.equal(await page.locator('#stat-layers').getAttribute('data-layers'), 'compact');
    // The layer it is sent now, shown apart: the gateway steps a troubled full-rate page down to this one.
    assert.equal(await page.locator('#stat-receiving').getAttribute('data-layer'), 'compact');
    assert.match((await page.locator('#stat-layers').textContent()) ?? '', /WebCodecs/);
    assert.deepEqual(errors, []);
    await page.close();
  });
});
