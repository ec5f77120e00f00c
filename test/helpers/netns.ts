/**
 * A network namespace behind a veth pair, for tests that shape a peer's link with real queueing
 * disciplines (tc tbf): the peer runs inside the namespace (`ip netns exec`), the servers on the
 * host side of the pair, and only the namespace's own /30 is ever addressed. Needs root and
 * iproute2 (`ip`, `tc`).
 */
import { execFileSync } from 'node:child_process';
import { IN_CI } from './env.js';

export interface ShapedLink {
  /** The namespace's name, for `ip netns exec`. */
  name: string;
  /** The host side's address (servers listen here) and the namespace side's. */
  hostAddress: string;
  peerAddress: string;
  /** Limits what the host sends into the namespace (the peer's download) to `rate` (e.g. "1mbit"). */
  throttle(rate: string): void;
  /** Lifts the limit. */
  lift(): void;
  /** Removes the namespace and the pair. */
  remove(): void;
}

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** Why a shaped link cannot be made here (undefined: it can); under CI=true that is an error. */
export function requireNetns(): string | undefined {
  let reason: string | undefined;
  if (process.getuid?.() !== 0) reason = 'network namespaces need root';
  else {
    try {
      run('ip', ['-V']);
      run('tc', ['-V']);
    } catch {
      reason = 'ip and tc are not installed: `apt-get install -y iproute2`';
    }
  }
  if (!reason) return undefined;
  if (IN_CI) throw new Error(`CI=true and ${reason}`);
  process.stderr.write(`\n!!! SKIPPING: ${reason}\n\n`);
  return reason;
}

/** A namespace named after this process, on 10.213.N.0/30 (N from the pid: parallel runs do not collide). */
export function createShapedLink(): ShapedLink {
  const n = process.pid % 250;
  const name = `sl-shaped-${process.pid}`;
  // Interface names are at most 15 characters.
  const hostIf = `slh${process.pid}`.slice(0, 15);
  const peerIf = `sln${process.pid}`.slice(0, 15);
  const hostAddress = `10.213.${n}.1`;
  const peerAddress = `10.213.${n}.2`;
  const link: ShapedLink = {
    name,
    hostAddress,
    peerAddress,
    throttle(rate) {
      // A token bucket at `rate`, a 16 KiB burst and 50 ms of queue in the qdisc: what a congested
      // access link does (TCP then backs off and queues the rest in the socket buffers).
      run('tc', ['qdisc', 'replace', 'dev', hostIf, 'root', 'tbf', 'rate', rate, 'burst', '16kb', 'latency', '50ms']);
    },
    lift() {
      run('tc', ['qdisc', 'del', 'dev', hostIf, 'root']);
    },
    remove() {
      try {
        run('ip', ['link', 'del', hostIf]);
      } catch {
        /* gone with the namespace */
      }
      try {
        run('ip', ['netns', 'del', name]);
      } catch {
        /* never made */
      }
    },
  };
  link.remove();
  try {
    run('ip', ['netns', 'add', name]);
    run('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', peerIf]);
    run('ip', ['link', 'set', peerIf, 'netns', name]);
    run('ip', ['addr', 'add', `${hostAddress}/30`, 'dev', hostIf]);
    run('ip', ['link', 'set', hostIf, 'up']);
    run('ip', ['netns', 'exec', name, 'ip', 'addr', 'add', `${peerAddress}/30`, 'dev', peerIf]);
    run('ip', ['netns', 'exec', name, 'ip', 'link', 'set', peerIf, 'up']);
    run('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
  } catch (err) {
    link.remove();
    throw err;
  }
  return link;
}
