import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { IN_CI } from './env.js';

/** A Go tool built by scripts/ci/ensure-tools.sh (or on PATH); undefined with a loud reason when missing. */
export function tool(name: 'helm'): { path?: string; skip?: string } {
  const candidates = [process.env[`STUDIOLINE_${name.toUpperCase()}`], join(process.env.STUDIOLINE_CACHE ?? join(homedir(), '.cache/studioline'), 'bin', name)];
  for (const c of candidates) if (c && existsSync(c)) return { path: c };
  try {
    execFileSync(name, ['version'], { stdio: 'ignore' });
    return { path: name };
  } catch {
    const reason = `${name} is not installed: build it with \`bash scripts/ci/ensure-tools.sh\``;
    if (IN_CI) throw new Error(`CI=true and ${reason}`);
    process.stderr.write(`\n!!! SKIPPING: ${reason}\n\n`);
    return { skip: reason };
  }
}
