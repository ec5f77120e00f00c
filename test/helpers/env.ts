/**
 * What the suites need from the machine, and the rule for when it is missing: under CI=true a
 * missing tool fails the run; on a developer's laptop the suite is skipped with a loud reason and
 * the install hint.
 */
import { execFileSync } from 'node:child_process';

export const IN_CI = process.env.CI === 'true';

export function dockerAvailable(): boolean {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** undefined when the tool is there; otherwise the reason to skip (or throws under CI). */
export function requireDocker(): string | undefined {
  if (dockerAvailable()) return undefined;
  const reason = 'Docker is not running: these tests start Redis with testcontainers. Install and start it with `bash scripts/ci/ensure-docker.sh`.';
  if (IN_CI) throw new Error(`CI=true and ${reason}`);
  process.stderr.write(`\n!!! SKIPPING: ${reason}\n\n`);
  return reason;
}

export const REDIS_IMAGE = process.env.STUDIOLINE_REDIS_IMAGE ?? 'redis:7';
