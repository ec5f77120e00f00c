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

/** The Studioline image under test (CI builds it from the repository's Dockerfile). */
export const STUDIOLINE_IMAGE = process.env.STUDIOLINE_IMAGE ?? 'studioline:dev';
export const NGINX_IMAGE = process.env.STUDIOLINE_NGINX_IMAGE ?? 'nginx:1.27';

export function imageExists(image: string): boolean {
  try {
    execFileSync('docker', ['image', 'inspect', image], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Like requireDocker, and the images too (built by `bash scripts/ci/build-images.sh`). */
export function requireImages(images: string[]): string | undefined {
  const docker = requireDocker();
  if (docker) return docker;
  const missing = images.filter((i) => !imageExists(i));
  if (!missing.length) return undefined;
  const reason = `images ${missing.join(', ')} are missing: build them with \`bash scripts/ci/build-images.sh\``;
  if (IN_CI) throw new Error(`CI=true and ${reason}`);
  process.stderr.write(`\n!!! SKIPPING: ${reason}\n\n`);
  return reason;
}

/** The SIP bridge's image (the Dockerfile's `sip-bridge` target; scripts/ci/build-images.sh). */
export const SIP_BRIDGE_IMAGE = process.env.STUDIOLINE_SIP_BRIDGE_IMAGE ?? 'studioline-sip-bridge:dev';
