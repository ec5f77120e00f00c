/**
 * Headless Chromium (Debian's package) driven by playwright-core, with a fake microphone playing a
 * WAV. Under CI=true a missing Chromium fails the run; elsewhere the suite is skipped loudly.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Browser, Page, chromium } from 'playwright-core';
import { encodeWav, toneSource } from '@studioline/client';
import { IN_CI } from './env.js';

export const CHROMIUM = process.env.STUDIOLINE_CHROMIUM ?? '/usr/bin/chromium';

export function requireChromium(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const reason = `Chromium is not installed at ${CHROMIUM}: the web client tests drive it. Install it with \`apt-get install -y chromium\`.`;
  if (IN_CI) throw new Error(`CI=true and ${reason}`);
  process.stderr.write(`\n!!! SKIPPING: ${reason}\n\n`);
  return reason;
}

/** A WAV file holding a tone, for Chromium's fake microphone (it loops the file). */
export function toneWav(frequency: number, seconds = 4, sampleRate = 48_000): string {
  const dir = mkdtempSync(join(tmpdir(), 'studioline-mic-'));
  const file = join(dir, `tone-${frequency}.wav`);
  const source = toneSource(frequency, sampleRate, 0.4);
  const frames = seconds * 100;
  const samples = new Int16Array(frames * (sampleRate / 100));
  for (let f = 0; f < frames; f++) samples.set(source.frame(f), f * (sampleRate / 100));
  writeFileSync(file, encodeWav({ sampleRate, samples }));
  return file;
}

/** A browser whose microphone plays `micWav`. One per microphone: the flag is per browser process. */
export async function launchBrowser(micWav: string): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${micWav}`,
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

/**
 * Records on a page for `ms`, stops, and downloads every file the page offers, by label: "Mix of
 * everyone", "You", and "Peer 1a2b3c" for each sender heard.
 */
export async function recordPage(page: Page, ms: number): Promise<Map<string, Buffer>> {
  await page.getByRole('button', { name: 'Record' }).click();
  await page.waitForTimeout(ms);
  const lists = await page.locator('#recordings ul').count();
  await page.getByRole('button', { name: 'Stop recording' }).click();
  const links = page.locator('#recordings ul').nth(lists).locator('a');
  await links.first().waitFor();
  const files = new Map<string, Buffer>();
  for (let i = 0; i < (await links.count()); i++) {
    const link = links.nth(i);
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    files.set(((await link.textContent()) ?? '').replace(/ \(WAV\)$/, ''), readFileSync((await download.path()) as string));
  }
  return files;
}
