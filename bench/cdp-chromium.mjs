// Headless Chromium driven over the DevTools protocol with nothing but Runtime.evaluate, for
// bench:latency. Playwright enables the Network domain on every page and worker it attaches to,
// and then Chromium serialises each websocket frame (base64, 4 KB at 200 kHz, 200 a second per
// page) to the driver, on the very worker thread that carries the call: a traced run spent a
// tenth of a core in the driver alone and sent it 22 MB in 15 s. A caller's browser has no
// debugger attached, so the benchmark must not either.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The switches Playwright itself uses for headless Chromium that matter here. */
const HEADLESS = ['--headless', '--mute-audio', '--hide-scrollbars', '--no-sandbox', '--remote-debugging-pipe', '--no-startup-window'];

/** One Chromium process; `newPage(url)` opens a page in a context of its own. */
export async function launchChromium(executablePath, args) {
  const profile = mkdtempSync(join(tmpdir(), 'studioline-cdp-'));
  // With --remote-debugging-pipe, Chromium reads commands from fd 3 and writes replies to fd 4,
  // each message JSON ended by a NUL byte.
  const child = spawn(executablePath, [...HEADLESS, `--user-data-dir=${profile}`, ...args], { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });
  const [toBrowser, fromBrowser] = [child.stdio[3], child.stdio[4]];
  let nextId = 1;
  const pending = new Map();
  const listeners = new Set();
  let buffered = '';
  fromBrowser.setEncoding('utf8');
  fromBrowser.on('data', (chunk) => {
    buffered += chunk;
    for (let end = buffered.indexOf('\0'); end !== -1; end = buffered.indexOf('\0')) {
      const msg = JSON.parse(buffered.slice(0, end));
      buffered = buffered.slice(end + 1);
      if (msg.id && pending.has(msg.id)) {
        const { resolve, reject, method } = pending.get(msg.id);
        pending.delete(msg.id);
        if (msg.error) reject(new Error(`${method}: ${msg.error.message}`));
        else resolve(msg.result);
      } else for (const l of listeners) l(msg);
    }
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  exited.then(() => {
    for (const { reject, method } of pending.values()) reject(new Error(`${method}: Chromium exited`));
  });
  const send = (method, params = {}, sessionId) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject, method });
      toBrowser.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  const { product } = await send('Browser.getVersion');

  async function newPage(url) {
    const { browserContextId } = await send('Target.createBrowserContext');
    const { targetId } = await send('Target.createTarget', { url: 'about:blank', browserContextId });
    const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
    const errors = [];
    const onEvent = (msg) => {
      if (msg.sessionId === sessionId && msg.method === 'Runtime.exceptionThrown') errors.push(msg.params.exceptionDetails.exception?.description ?? msg.params.exceptionDetails.text);
    };
    listeners.add(onEvent);
    await send('Runtime.enable', {}, sessionId);
    /** Evaluates `expression` in the page (awaiting a promise) and returns its value. */
    const evaluate = async (expression) => {
      const { result, exceptionDetails } = await send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true, userGesture: true }, sessionId);
      if (exceptionDetails) throw new Error(`page: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
      return result.value;
    };
    /** Polls `expression` until it is truthy. */
    const waitFor = async (expression, timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      while (!(await evaluate(expression))) {
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${expression}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await send('Page.navigate', { url }, sessionId);
    await waitFor(`document.readyState === 'complete' && location.href !== 'about:blank'`, 20_000);
    return {
      evaluate,
      waitFor,
      errors,
      close: async () => {
        listeners.delete(onEvent);
        await send('Target.disposeBrowserContext', { browserContextId });
      },
    };
  }

  return {
    version: product.split('/').pop(),
    newPage,
    close: async () => {
      child.kill();
      await exited;
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
