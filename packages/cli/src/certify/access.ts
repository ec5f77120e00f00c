/**
 * Reaching the deployment before a run: wait until it says it is ready (a Job may start before
 * the gateways), and, without a key of its own, make a temporary API key through keys-admin and
 * revoke it afterwards (what `helm test` and the chart's Job do). The key's secret is never printed.
 */
import { ConfigError } from '@studioline/server-kit';

export async function waitReady(origin: string, seconds: number): Promise<void> {
  const until = Date.now() + seconds * 1000;
  let last = '';
  while (Date.now() < until) {
    try {
      const res = await fetch(`${origin}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new ConfigError(`${origin}/readyz did not answer 200 within ${seconds} s (last: ${last})`);
}

async function admin(adminUrl: string, token: string, method: string, path: string, body?: unknown): Promise<Record<string, any>> {
  const res = await fetch(`${adminUrl.replace(/\/$/, '')}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new ConfigError(`keys admin ${method} ${path} answered HTTP ${res.status}`);
  return (await res.json()) as Record<string, any>;
}

/** A key made for this run; `revoke()` ends it (every gateway closes its sockets within a second). */
export async function temporaryKey(adminUrl: string, token: string, name: string): Promise<{ secret: string; revoke(): Promise<void> }> {
  const made = await admin(adminUrl, token, 'POST', '/v1/keys', { name });
  return { secret: made.secret as string, revoke: async () => void (await admin(adminUrl, token, 'POST', `/v1/keys/${made.key.id}/revoke`)) };
}
