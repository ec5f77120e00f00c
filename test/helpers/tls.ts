import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A CA and a certificate for `names` (subjectAltName entries) signed by it, made with openssl (tls.crt, tls.key in `dir`). */
export function makeTls(names = ['DNS:localhost', 'IP:127.0.0.1']): { dir: string; ca: string } {
  const dir = mkdtempSync(join(tmpdir(), 'studioline-tls-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=Studioline test CA');
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'tls.key', '-out', 'tls.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'san.ext'), `subjectAltName=${names.join(',')}\n`);
  run('x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'tls.crt', '-days', '2', '-extfile', 'san.ext');
  return { dir, ca: readFileSync(join(dir, 'ca.crt'), 'utf8') };
}
