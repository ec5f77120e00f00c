/**
 * The host keys `studioline link --host` makes (issue 14): an Ed25519 key pair per hosted line. The
 * public half goes in the link (`host=`); the private half is kept in the CLI's home, like its API
 * key and admin token: STUDIOLINE_HOME/hosts/<public key>.key (PKCS#8, base64), readable only by
 * its owner, never printed or logged. `studioline peer` with that link, on this machine, finds it
 * and is the line's host. Whoever holds the file can admit, exclude and rekey on the line: delete it
 * when the line is done.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import { SigningKeyPair, bytesToBase64url, sign, utf8, verify } from '@studioline/protocol';
import { CliError } from './exit-codes.js';

const HOSTS_DIR = 'hosts';

export function hostKeyPath(home: string, publicKey: Uint8Array): string {
  return join(home, HOSTS_DIR, `${bytesToBase64url(publicKey)}.key`);
}

/** A new host key pair: the private half written to the home; returns the public half and where it went. */
export async function createHostKey(home: string): Promise<{ publicKey: Uint8Array; path: string }> {
  const pair = (await webcrypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const publicKey = new Uint8Array(await webcrypto.subtle.exportKey('raw', pair.publicKey));
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', pair.privateKey));
  const path = hostKeyPath(home, publicKey);
  mkdirSync(join(home, HOSTS_DIR), { recursive: true, mode: 0o700 });
  writeFileSync(path, pkcs8.toString('base64') + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return { publicKey, path };
}

/**
 * The host key pair for a link's `host=` key, if this machine's home holds it (undefined when not:
 * the peer is a member like any other). A file that is not that key's private half is an error.
 */
export async function loadHostKey(home: string, publicKey: Uint8Array): Promise<{ signing: SigningKeyPair; path: string } | undefined> {
  const path = hostKeyPath(home, publicKey);
  if (!existsSync(path)) return undefined;
  let privateKey: CryptoKey;
  try {
    const der = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
    privateKey = (await webcrypto.subtle.importKey('pkcs8', der, { name: 'Ed25519' }, false, ['sign'])) as CryptoKey;
  } catch (err) {
    throw new CliError(`the host key file ${path} cannot be read as an Ed25519 private key (${(err as Error).message}): delete it, or restore it`);
  }
  // The file is named by the public key; check it really is that key's private half.
  const probe = utf8('studioline host key check');
  if (!(await verify(publicKey, probe, await sign(privateKey, probe)))) throw new CliError(`the host key file ${path} does not hold the private half of the link's host key`);
  return { signing: { privateKey, publicKey }, path };
}
