/**
 * Studioline services as separate processes, the way a deployment runs them: `studioline serve
 * --role ROLE` with the environment a container would get. Output is captured for assertions.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

export const REPO = join(__dirname, '..', '..', '..');
export const CLI = join(REPO, 'packages', 'cli', 'bin', 'studioline.js');

export interface ServiceProcess {
  role: string;
  child: ChildProcess;
  /** Everything it wrote, stdout and stderr. */
  output(): string;
  /** The parsed JSON log lines it wrote. */
  logs(): Record<string, unknown>[];
  /** Resolves with the first log line that matches. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startProcess(args: string[], env: Record<string, string>, role = args.join(' ')): ServiceProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const waiters: { match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  const parsed: Record<string, unknown>[] = [];
  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(line);
      } catch {
        continue;
      }
      parsed.push(obj);
      for (const w of [...waiters]) if (w.match(obj)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(obj);
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    role,
    child,
    output: () => text,
    logs: () => parsed,
    waitForLog(match, timeoutMs = 15_000) {
      const found = parsed.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${role}: no matching log line within ${timeoutMs} ms; output:\n${text.slice(-3000)}`)), timeoutMs);
        waiters.push({ match, resolve: (l) => (clearTimeout(timer), resolve(l)) });
        void exited.then((code) => reject(new Error(`${role} exited with ${code} before the expected log line; output:\n${text.slice(-3000)}`)));
      });
    },
    exited,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Starts a gateway process on a free port; resolves once it listens, with its URL. */
export async function startGateway(env: Record<string, string>): Promise<ServiceProcess & { url: string; id: string }> {
  const p = startProcess(['serve', '--role', 'gateway', '--port', '0'], env, 'gateway');
  const line = await p.waitForLog((l) => l.msg === 'gateway listening');
  return Object.assign(p, { url: line.address as string, id: line.gateway as string });
}

export async function startRelay(env: Record<string, string>): Promise<ServiceProcess & { id: string }> {
  const p = startProcess(['serve', '--role', 'relay'], { METRICS_PORT: '0', ...env }, 'relay');
  const line = await p.waitForLog((l) => l.msg === 'relay started');
  return Object.assign(p, { id: line.relay as string });
}

export async function startKeysAdmin(env: Record<string, string>): Promise<ServiceProcess & { url: string }> {
  const p = startProcess(['serve', '--role', 'keys-admin'], { ADMIN_PORT: '0', ...env }, 'keys-admin');
  const line = await p.waitForLog((l) => l.msg === 'keys admin listening');
  return Object.assign(p, { url: line.address as string });
}

/** Runs the CLI to completion; resolves with its exit code and output. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`studioline ${args[0]} did not finish within ${timeoutMs} ms:\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
