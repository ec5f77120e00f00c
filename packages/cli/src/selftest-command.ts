import { NodePeer, dominantFrequency, toneSource } from '@studioline/client';
import { STUDIO_SAMPLE_RATE, formatCallLink, generateLeaf, parseCallLink } from '@studioline/protocol';

export interface SelftestOptions {
  url: string;
  /** The key to call with; or, with adminUrl and adminToken, a temporary key is made and revoked. */
  apiKey?: string;
  adminUrl?: string;
  adminToken?: string;
  seconds: number;
}

async function admin(options: SelftestOptions, method: string, path: string, body?: unknown): Promise<Record<string, any>> {
  const res = await fetch(`${options.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${options.adminToken}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new SelftestError(`keys admin ${method} ${path} answered ${res.status}`);
  return (await res.json()) as Record<string, any>;
}

export class SelftestError extends Error {
  readonly code = 'selftest_failed';
}

/**
 * `studioline selftest URL`: a real call between two peers on a fresh line through the given
 * server; passes when each heard the other's tone and no frame was lost or failed to decrypt.
 * This is what `helm test` runs.
 */
export async function runSelftest(options: SelftestOptions): Promise<string> {
  if (options.apiKey) return call(options, options.apiKey);
  if (!options.adminUrl || !options.adminToken) throw new SelftestError('selftest needs an API key, or a keys admin URL and token to make one');
  const made = await admin(options, 'POST', '/v1/keys', { name: 'selftest (temporary)' });
  try {
    return await call(options, made.secret as string);
  } finally {
    await admin(options, 'POST', `/v1/keys/${made.key.id}/revoke`);
  }
}

async function call(options: SelftestOptions, apiKey: string): Promise<string> {
  const link = parseCallLink(formatCallLink(options.url, apiKey, generateLeaf()));
  const peer = (hz: number) => new NodePeer({ link, source: toneSource(hz, STUDIO_SAMPLE_RATE), seconds: options.seconds, record: true, peerTimeoutMs: 15_000 });
  const [a, b] = await Promise.all([peer(440).run(), peer(1000).run()]);
  const heard = [dominantFrequency(a.recording!.samples, a.recording!.sampleRate), dominantFrequency(b.recording!.samples, b.recording!.sampleRate)];
  const problems: string[] = [];
  if (Math.abs(heard[0] - 1000) > 1) problems.push(`peer A heard ${heard[0].toFixed(1)} Hz instead of 1000 Hz`);
  if (Math.abs(heard[1] - 440) > 1) problems.push(`peer B heard ${heard[1].toFixed(1)} Hz instead of 440 Hz`);
  for (const [name, s] of [['A', a], ['B', b]] as const) {
    if (s.lost || s.decryptFailed) problems.push(`peer ${name}: ${s.lost} frames lost, ${s.decryptFailed} failed to decrypt`);
  }
  const summary = `A sent ${a.sent} and heard ${b.sent === a.received ? 'all' : a.received} of B's ${b.sent} frames at ${heard[0].toFixed(1)} Hz; B sent ${b.sent} and heard ${b.received} at ${heard[1].toFixed(1)} Hz`;
  if (problems.length) throw new SelftestError(`selftest failed: ${problems.join('; ')} (${summary})`);
  return `selftest passed: ${summary}`;
}
