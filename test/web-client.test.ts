/**
 * The web client in headless Chromium (issue 3): two pages with fake microphones hear each other,
 * a page and the Node peer interoperate, #generate_leaf makes a working link, other lines stay
 * apart, refusals are shown in words, and the page asks nothing of any other host.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { decodeWav, dominantFrequency, formatBitrate, toneShare } from '@studioline/client';
import { generateLeaf } from '@studioline/protocol';
import { launchBrowser, recordPage, requireChromium, toneWav } from './helpers/browser.js';
import { Embedded, metricValue, startEmbedded } from './helpers/embedded.js';
import { sameLineVia, tonePeer } from './helpers/peers.js';
import { parseCallLink } from '@studioline/protocol';
import { REPO } from './helpers/processes.js';

const skip = requireChromium();

interface OpenPage {
  page: Page;
  requests: string[];
  errors: string[];
}

describe('web client in Chromium', { skip }, () => {
  let server: Embedded;
  let browser440: Browser;
  let browser1000: Browser;
  const pages: OpenPage[] = [];

  before(async () => {
    server = await startEmbedded();
    [browser440, browser1000] = await Promise.all([launchBrowser(toneWav(440)), launchBrowser(toneWav(1000))]);
  });
  after(async () => {
    await Promise.all([browser440?.close(), browser1000?.close()]);
    await server?.stop();
    // Every request any page made went to the gateway, and nowhere else.
    const requests = pages.flatMap((p) => p.requests);
    assert.ok(requests.length > 0);
    const elsewhere = requests.filter((u) => !u.startsWith(server.url) && !u.startsWith(server.url.replace('http', 'ws')) && !u.startsWith('blob:') && !u.startsWith('data:'));
    assert.deepEqual(elsewhere, [], 'the page made requests to other hosts');
  });

  async function open(browser: Browser, url: string): Promise<OpenPage> {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 480, height: 900 } });
    const page = await context.newPage();
    const opened: OpenPage = { page, requests: [], errors: [] };
    page.on('request', (r) => opened.requests.push(r.url()));
    page.on('websocket', (ws) => opened.requests.push(ws.url()));
    page.on('pageerror', (e) => opened.errors.push(e.message));
    await page.goto(url);
    pages.push(opened);
    return opened;
  }

  async function joinCall({ page }: OpenPage): Promise<void> {
    await page.getByRole('button', { name: 'Join call' }).click();
    await page.locator('#call').waitFor({ state: 'visible' });
  }

  async function waitInCall({ page }: OpenPage): Promise<void> {
    await page.locator('#state[data-state="in-call"]').waitFor({ timeout: 15_000 });
  }

  const record = ({ page }: OpenPage, ms: number) => recordPage(page, ms);

  /** What a recording file holds. */
  const analyse = (wav: Buffer | undefined) => {
    assert.ok(wav, 'the recording offers this file');
    const pcm = decodeWav(wav);
    return { pcm, frequency: dominantFrequency(pcm.samples, pcm.sampleRate), seconds: pcm.samples.length / pcm.sampleRate, rate: pcm.sampleRate };
  };
  /** The one peer track of a 1:1 call. */
  const heard = (files: Map<string, Buffer>) => {
    const peers = [...files.keys()].filter((label) => label.startsWith('Peer '));
    assert.equal(peers.length, 1, `one peer track: ${[...files.keys()].join(', ')}`);
    return analyse(files.get(peers[0]));
  };

  /** The figures each page counted (frames and bytes), read when neither is sending. */
  /** The full layer's share of the figures: full-rate pages also send the compact layer, which the relay forwards only to mobile peers. */
  const figuresOf = async ({ page }: OpenPage) => {
    const f = (await page.evaluate(() => (window as any).studioline.figures)) as { framesSent: number; framesReceived: number; bytesSent: number; bytesReceived: number; compactFramesSent: number; compactBytesSent: number };
    return { ...f, framesSent: f.framesSent - f.compactFramesSent, bytesSent: f.bytesSent - f.compactBytesSent };
  };
  const setMuted = async (pages: OpenPage[], muted: boolean) => {
    for (const { page } of pages) await page.getByRole('button', { name: muted ? 'Mute' : 'Unmute', exact: true }).click();
    // In-flight frames land and the pages' figures (refreshed every 500 ms) catch up.
    if (muted) await pages[0].page.waitForTimeout(1500);
  };
  const drops = async () => {
    const text = await server.metrics();
    return metricValue(text, 'studioline_gateway_frame_drops_total') + metricValue(text, 'studioline_relay_frame_drops_total');
  };

  it('#generate_leaf makes a link of the right form, and two pages on it hear each other’s tones', async (t) => {
    const a = await open(browser440, `${server.url}/?apikey=${server.apiKey}#generate_leaf`);
    const link = await a.page.locator('#link').inputValue();
    assert.match(link, new RegExp(`^${server.url}/#apikey=${server.apiKey}&leaf_[A-Za-z0-9_-]{43}$`));
    assert.equal(a.page.url(), link, 'the address bar holds the new link, key in the fragment');
    await a.page.getByText('Share it only over a private channel').waitFor();
    const b = await open(browser1000, link);
    await joinCall(a);
    await joinCall(b);
    await Promise.all([waitInCall(a), waitInCall(b)]);
    await a.page.waitForTimeout(1000);
    const [filesA, filesB] = await Promise.all([record(a, 3000), record(b, 3000)]);
    const hA = heard(filesA);
    const hB = heard(filesB);
    t.diagnostic(`page A heard ${hA.frequency.toFixed(2)} Hz over ${hA.seconds.toFixed(2)} s at ${hA.rate} Hz; page B heard ${hB.frequency.toFixed(2)} Hz; files ${[...filesA.keys()].join(', ')}`);
    assert.equal(hA.rate, 200_000, 'Chromium runs the call at 200 kHz');
    assert.ok(Math.abs(hA.frequency - 1000) < 1, `page A heard ${hA.frequency} Hz`);
    assert.ok(Math.abs(hB.frequency - 440) < 1, `page B heard ${hB.frequency} Hz`);
    // Each page's own track holds its microphone, and the mix holds both voices.
    assert.ok(Math.abs(analyse(filesA.get('You')).frequency - 440) < 1);
    const mixA = analyse(filesA.get('Mix of everyone')).pcm;
    for (const hz of [440, 1000]) assert.ok(toneShare(mixA.samples, mixA.sampleRate, hz) > 0.2, `page A's mix holds ${hz} Hz`);
    for (const p of [a, b]) {
      assert.equal(await p.page.locator('#stat-decrypt').textContent(), '0');
      // The bitrate shown is the one the page computed from its counted bytes and measured time.
      const shown = await p.page.evaluate(() => {
        const w = (window as any).studioline;
        return { sent: document.getElementById('stat-sent')!.textContent, received: document.getElementById('stat-received')!.textContent, bitrates: w.bitrates };
      });
      assert.match(shown.sent ?? '', /^\d+\.\d\d Mbit\/s$/);
      assert.equal(shown.sent, formatBitrate(shown.bitrates.sentBps));
      assert.equal(shown.received, formatBitrate(shown.bitrates.receivedBps));
      assert.equal(await p.page.locator('#peers li[data-sender]').count(), 1);
      assert.deepEqual(p.errors, []);
    }

    // The counts agree with the other side's: with both pages quiet before and after, every frame
    // one page counted as sent the other counted as received, unless the server counted it dropped.
    await setMuted([a, b], true);
    const [a0, b0, d0] = [await figuresOf(a), await figuresOf(b), await drops()];
    await setMuted([a, b], false);
    await a.page.waitForTimeout(2000);
    await setMuted([a, b], true);
    const [a1, b1, d1] = [await figuresOf(a), await figuresOf(b), await drops()];
    const sentAB = a1.framesSent - a0.framesSent;
    const sentBA = b1.framesSent - b0.framesSent;
    const heardAB = b1.framesReceived - b0.framesReceived;
    const heardBA = a1.framesReceived - a0.framesReceived;
    t.diagnostic(`A sent ${sentAB}, B received ${heardAB}; B sent ${sentBA}, A received ${heardBA}; server drops ${d1 - d0}`);
    assert.ok(sentAB >= 100 && sentBA >= 100, 'both pages sent for the 2 s');
    assert.equal(sentAB + sentBA, heardAB + heardBA + (d1 - d0), 'sent = received + dropped (and counted) by the server');
    if (d1 === d0) {
      assert.equal(heardAB, sentAB);
      assert.equal(b1.bytesReceived - b0.bytesReceived, a1.bytesSent - a0.bytesSent, 'bytes too');
      assert.equal(heardBA, sentBA);
    }
    await setMuted([a, b], false);
    const stats = await a.page.evaluate(() => (window as any).studioline);
    t.diagnostic(`page A: jitter buffer ${JSON.stringify(stats.jitter)}, rtt ${stats.figures.rttMs?.toFixed(2)} ms, latency shown ${await a.page.locator('#stat-latency').textContent()}`);
    // The screenshot is a test artifact; it shows no key (the link box is masked for it).
    await a.page.locator('#link').evaluate((el: HTMLInputElement) => (el.value = el.value.replace(/apikey=[^&]+&leaf_.*/, 'apikey=…&leaf_…')));
    await a.page.screenshot({ path: join(REPO, '.artifacts', 'call-screen.png'), fullPage: true });

    // A page with another leaf on the same key is on another line: it hears nothing.
    const other = await open(browser1000, `${server.url}/#apikey=${server.apiKey}&leaf_${generateLeaf()}`);
    await joinCall(other);
    await other.page.locator('#state[data-state="waiting"]').waitFor();
    await other.page.waitForTimeout(1500);
    const figures = await other.page.evaluate(() => (window as any).studioline.figures);
    assert.equal(figures.framesReceived, 0);
    assert.equal(await other.page.locator('#peers li[data-sender]').count(), 0);

    // A third page on the full line is told so in words.
    const third = await open(browser1000, link);
    await joinCall(third);
    await third.page.locator('#problem').getByText('The line is full').waitFor({ timeout: 10_000 });
    assert.equal(await third.page.locator('#state').getAttribute('data-state'), 'refused');
    for (const p of [a, b, other, third]) await p.page.close();
  });

  it('a page and the Node peer interoperate: each hears the other’s tone', async (t) => {
    const leaf = generateLeaf();
    const url = `${server.url}/#apikey=${server.apiKey}&leaf_${leaf}`;
    const page = await open(browser440, url);
    await joinCall(page);
    const node = tonePeer(sameLineVia(parseCallLink(url), server.url), 1000, 6);
    const nodeRun = node.run();
    await waitInCall(page);
    await page.page.waitForTimeout(1000);
    const files = await record(page, 3000);
    const summary = await nodeRun;
    const h = heard(files);
    const nodeHeard = dominantFrequency(summary.recording!.samples, summary.recording!.sampleRate);
    t.diagnostic(`page heard ${h.frequency.toFixed(2)} Hz; Node peer heard ${nodeHeard.toFixed(2)} Hz at ${summary.recording!.sampleRate} Hz, ${summary.received} frames, ${summary.decryptFailed} decrypt failures`);
    assert.ok(Math.abs(h.frequency - 1000) < 1);
    assert.ok(Math.abs(nodeHeard - 440) < 1);
    assert.equal(summary.decryptFailed, 0);
    assert.equal(await page.page.locator('#stat-decrypt').textContent(), '0');
    await page.page.close();
  });

  it('a wrong API key is shown in words', async () => {
    const page = await open(browser440, `${server.url}/#apikey=${'q'.repeat(72)}&leaf_${generateLeaf()}`);
    await joinCall(page);
    await page.page.locator('#problem').getByText('The API key is wrong, expired or unknown.').waitFor({ timeout: 10_000 });
    assert.equal(await page.page.locator('#problem').isVisible(), true);
    await page.page.close();
  });

  it('a malformed link is explained, not crashed on', async () => {
    const page = await open(browser440, `${server.url}/#apikey=${server.apiKey}&leaf_nope`);
    await page.page.getByText('This link cannot start a call').waitFor();
    assert.deepEqual(page.errors, []);
    await page.page.close();
  });
});
