import { NodePeer, dominantFrequency, toneSource } from '@studioline/client';
import { STUDIO_SAMPLE_RATE, formatCallLink, generateLeaf, parseCallLink } from '@studioline/protocol';
import { Command, positiveNumber } from './command.js';
import { CliError, EXIT, ExitCode } from './exit-codes.js';
import { apiKeyForLinks, defaultAdminUrl, defaultGatewayUrl } from './home.js';

export interface SelftestOptions {
  url: string;
  /** The key to call with; or, with adminUrl and adminToken, a temporary key is made and revoked. */
  apiKey?: string;
  adminUrl?: string;
  adminToken?: string;
  seconds: number;
}

async function admin(options: SelftestOptions, method: string, path: string, body?: unknown): Promise<Record<string, any>> {
  let res: Response;
  try {
    res = await fetch(`${options.adminUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${options.adminToken}`, 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (err) {
    throw new SelftestError(`cannot reach the keys admin API at ${options.adminUrl}: ${causeOf(err)}`, EXIT.unreachable);
  }
  if (!res.ok) throw new SelftestError(`keys admin ${method} ${path} answered ${res.status}`, EXIT.refused);
  return (await res.json()) as Record<string, any>;
}

/** fetch() says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND) is in its cause. */
export function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

export class SelftestError extends Error {
  readonly code = 'selftest_failed';
  constructor(
    message: string,
    /** 5: the call was made and failed its check; 3 or 4 when the keys admin API refused or was unreachable. */
    readonly exitCode: ExitCode = EXIT.failed,
  ) {
    super(message);
  }
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

export const selftestCommand: Command = {
  name: 'selftest',
  summary: 'make a real call between two peers through a server and check each heard the other',
  usage: '[URL] [options]',
  description: `Makes a real call between two peers on a fresh line through the server at URL (default as for
\`studioline link\`) and checks that each heard the other's tone with no frame lost or failed to
decrypt: what \`helm test\` runs. With --admin-url and STUDIOLINE_ADMIN_TOKEN it makes a temporary
key and revokes it afterwards. Exits 0 when it passed, 5 when the call did not pass its check.`,
  options: {
    apikey: { type: 'string', value: 'KEY', description: 'the API key to call with (default: APIKEY, or the local server\'s)' },
    'admin-url': { type: 'string', value: 'URL', description: 'make a temporary key through this keys admin API (token in STUDIOLINE_ADMIN_TOKEN)' },
    seconds: { type: 'string', value: 'N', description: 'length of the call, at most 60', default: '3' },
  },
  positionals: { min: 0, max: 1, names: ['URL'] },
  examples: [
    ['npx studioline selftest', 'a 3-second call through the server `npm start` runs on this machine'],
    ['STUDIOLINE_ADMIN_TOKEN=... studioline selftest http://gateway:7777 --admin-url http://keys-admin:7778', 'what the chart\'s helm test pod runs'],
  ],
  async run({ values, positionals }, env) {
    const adminUrl = values['admin-url'] as string | undefined;
    const adminToken = env.STUDIOLINE_ADMIN_TOKEN ?? env.ADMIN_TOKEN;
    const apiKey = (values.apikey as string | undefined) ?? (adminUrl && adminToken ? undefined : apiKeyForLinks(env));
    if (!apiKey && !(adminUrl && adminToken)) throw new CliError('no API key: pass --apikey, set APIKEY, or pass --admin-url with STUDIOLINE_ADMIN_TOKEN');
    const seconds = positiveNumber('seconds', values.seconds, 60) as number;
    const url = positionals[0] ?? defaultGatewayUrl(env);
    process.stdout.write((await runSelftest({ url, apiKey, adminUrl: adminUrl ?? (apiKey ? undefined : defaultAdminUrl(env)), adminToken, seconds })) + '\n');
  },
};
