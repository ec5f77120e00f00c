/**
 * Issue 14 item 1 in the page: a channel added by pasting its link joins beside the page's own line
 * over the same websocket, is remembered in this browser, and its key (2, the first listed channel)
 * is its push-to-talk: a Node peer on that line hears nothing while the key is up and the page's
 * tone while it is held, and the page's own (listen-only) line hears nothing at all.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { NodePeer, ReceivedFrame, dominantFrequency, toneSource } from '@studioline/client';
import { MOBILE_SAMPLE_RATE, formatCallLink } from '@studioline/protocol';
import { launchBrowser, requireChromium, toneWav } from './helpers/browser.js';
import { Embedded, metricValue, startEmbedded } from './helpers/embedded.js';
import { newLink } from './helpers/peers.js';

const skip = requireChromium();
const HOLD_MS = 1500;

describe('channels in Chromium', { skip }, () => {
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

  it('adds a channel by its link over the same websocket, remembers it, and talks into it only while key 2 is held, and its key can be rebound', async () => {
    const [own, cams] = [newLink(server.url, server.apiKey), newLink(server.url, server.apiKey)];
    const onOwn: ReceivedFrame[] = [];
    const onCams: ReceivedFrame[] = [];
    const stop = new AbortController();
    const quiet = (link: typeof own, frames: ReceivedFrame[]) =>
      new NodePeer({ link, source: toneSource(1000, MOBILE_SAMPLE_RATE, 0), seconds: 60, listenOnly: true, sinks: [{ push: (f) => frames.push(f) }], signal: stop.signal });
    const running = [quiet(own, onOwn).run(), quiet(cams, onCams).run()];

    const page = await (await browser.newContext()).newPage();
    await page.goto(formatCallLink(own.origin, own.apiKey, own.leaf as string));
    // The page's own line listens only; the channel it adds is push-to-talk (the default for a channel).
    await page.evaluate(() => localStorage.setItem('studioline.talk', JSON.stringify({ mode: 'listen', key: '1' })));
    await page.reload();
    const connections = metricValue(await server.metrics(), 'studioline_gateway_connections_total');
    await page.getByRole('button', { name: 'Join call' }).click();
    await page.locator('#state[data-state="in-call"]').waitFor({ timeout: 15_000 });
    // A link that is not one is refused in words.
    await page.locator('#channel-link').fill('not a link');
    await page.getByRole('button', { name: 'Add channel' }).click();
    assert.match((await page.locator('#channel-problem').textContent()) ?? '', /not a call link/);
    await page.locator('#channel-name').fill('cams');
    await page.locator('#channel-link').fill(formatCallLink(cams.origin, cams.apiKey, cams.leaf as string));
    await page.getByRole('button', { name: 'Add channel' }).click();
    const channel = page.locator('#channel-list li[data-name="cams"]');
    await page.locator('#channel-list li[data-name="cams"][data-state="in-call"]').waitFor({ timeout: 15_000 });
    const key = page.getByRole('textbox', { name: 'Push-to-talk key of cams' });
    assert.equal(await key.inputValue(), '2', 'the first listed channel talks on key 2');
    assert.equal(metricValue(await server.metrics(), 'studioline_gateway_connections_total') - connections, 1, 'one websocket for both lines');

    await page.waitForTimeout(1000);
    assert.equal(onCams.length, 0, 'nothing into the channel while its key is up');
    const downAt = performance.now();
    await page.keyboard.down('2');
    await page.waitForTimeout(HOLD_MS);
    const upAt = performance.now();
    await page.keyboard.up('2');
    await page.waitForTimeout(1000);
    assert.ok(onCams.length > 100, `the channel heard the page while key 2 was held (${onCams.length} frames)`);
    assert.ok(onCams.every((f) => f.at >= downAt && f.at <= upAt + 500), 'only while the key was held (and frames in flight)');
    const spurtMs = (Number(onCams.at(-1)!.ctr - onCams[0].ctr) + 1) * 10;
    assert.ok(Math.abs(spurtMs - HOLD_MS) <= 200, `the spurt lasted as long as the key (${spurtMs} ms)`);
    const pcm = Int16Array.from(onCams.flatMap((f) => [...f.pcm]));
    assert.ok(Math.abs(dominantFrequency(pcm, onCams[0].sampleRate) - 440) < 3, "the page's microphone");
    assert.equal(onOwn.length, 0, "the page's own line (listen only) heard nothing");
    // Transmission starts with the first frame captured after the key (a little more on a busy machine).
    const pttStartMs = Number(await channel.getAttribute('data-ptt-start-ms'));
    process.stdout.write(`# channel push-to-talk: key to first frame sent ${pttStartMs} ms, key to first frame heard ${(onCams[0].at - downAt).toFixed(0)} ms, ${onCams.length} frames for a ${HOLD_MS} ms hold\n`);
    assert.ok(pttStartMs >= 0 && pttStartMs <= 30, `first frame ${pttStartMs} ms after the key`);

    // Remembered in this browser: after a reload the channel is listed and joins with the call.
    await page.reload();
    await page.getByRole('button', { name: 'Join call' }).click();
    await page.locator('#channel-list li[data-name="cams"][data-state="in-call"]').waitFor({ timeout: 15_000 });
    // Its key is rebindable: after q replaces 2, 2 sends nothing and q talks.
    await key.fill('q');
    await key.evaluate((el) => (el as HTMLInputElement).blur());
    const press = async (k: string) => {
      await page.keyboard.down(k);
      await page.waitForTimeout(500);
      await page.keyboard.up(k);
      await page.waitForTimeout(1000);
    };
    const heard = onCams.length;
    await press('2');
    assert.equal(onCams.length, heard, 'the old key no longer talks');
    await press('q');
    assert.ok(onCams.length > heard + 20, `the new key talks (${onCams.length - heard} frames for a 500 ms hold)`);
    stop.abort();
    await Promise.all(running);
  });
});
