/**
 * `studioline certify` and `studioline certify merge`: parse, run (or merge), write
 * certificate.json, certificate.html and junit.xml, print the verdict. Returns the exit code:
 * 0 passed, 1 a threshold broke. Bad input throws ConfigError (exit 2 from main).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '@studioline/server-kit';
import { Certificate, MergeError, Measurements, measurementsOf, merge } from './certificate.js';
import { certificateHtml } from './html.js';
import { certificateJunit } from './junit.js';
import { CERTIFY_HELP, parseCertifyOptions } from './options.js';
import { certify } from './run.js';

/** A shard prints its certificate on one line after this marker, so `kubectl logs` output can be merged as it is. */
export const SHARD_MARKER = 'studioline-certificate-shard ';

export function writeCertificate(cert: Certificate, dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'certificate.json'), JSON.stringify(cert, null, 2) + '\n');
  writeFileSync(join(dir, 'certificate.html'), certificateHtml(cert));
  writeFileSync(join(dir, 'junit.xml'), certificateJunit(cert));
}

export function verdictText(cert: Certificate): string {
  const s = cert.summary;
  return [
    `studioline certify: ${cert.passed ? 'PASSED' : `FAILED (${cert.broken.join(', ')})`}: ${s.peers} peers in lines of ${cert.run.linesOf} against ${cert.run.target}`,
    ...cert.thresholds.map((t) => `  ${t.ok ? 'ok  ' : 'FAIL'} ${t.name}: ${t.measured} (limit: ${t.limit})`),
    ...(cert.broken.includes('certifier kept up')
      ? ['  The certifier itself fell behind: the other broken thresholds may be its own, not the deployment\'s. Give it more cores (--workers, or shards on more machines: certify.pods in the chart) and run again.']
      : []),
  ].join('\n');
}

/** Certificates in files: a certificate JSON, or logs holding shard lines (from `kubectl logs`). */
function readCertificates(files: string[]): Measurements[] {
  const out: Measurements[] = [];
  for (const file of files) {
    const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
    const name = file === '-' ? 'standard input' : file;
    try {
      out.push(measurementsOf(JSON.parse(text), name));
      continue;
    } catch (err) {
      if (err instanceof MergeError) throw new ConfigError(err.message);
    }
    let found = 0;
    for (const line of text.split('\n')) {
      const at = line.indexOf(SHARD_MARKER);
      if (at < 0) continue;
      try {
        out.push(measurementsOf(JSON.parse(line.slice(at + SHARD_MARKER.length)), `${name} (shard line ${found + 1})`));
      } catch (err) {
        throw new ConfigError(err instanceof MergeError ? err.message : `${name}: a shard line is not valid JSON (was the log cut?)`);
      }
      found++;
    }
    if (!found) throw new ConfigError(`${name} holds neither a certificate nor "${SHARD_MARKER.trim()}" lines`);
  }
  return out;
}

const defaultOut = () => resolve('.artifacts', 'certificates', new Date().toISOString().replace(/[:.]/g, '-'));

export async function runCertifyCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(CERTIFY_HELP);
    return 0;
  }
  let cert: Certificate;
  let out: string;
  if (argv[0] === 'merge') {
    const files: string[] = [];
    let dir: string | undefined;
    for (let i = 1; i < argv.length; i++) {
      if (argv[i] === '--out') dir = argv[++i];
      else if (argv[i].startsWith('--out=')) dir = argv[i].slice(6);
      else if (argv[i] === '-' || !argv[i].startsWith('-')) files.push(argv[i]);
      else throw new ConfigError(`certify merge: unknown option ${argv[i]}\n\n${CERTIFY_HELP}`);
    }
    if (!files.length) throw new ConfigError('certify merge needs certificate files (or - for standard input)');
    try {
      cert = merge(readCertificates(files));
    } catch (err) {
      if (err instanceof MergeError) throw new ConfigError(err.message);
      throw err;
    }
    out = dir ?? env.CERTIFY_OUT ?? defaultOut();
  } else {
    const options = parseCertifyOptions(argv, env);
    const tty = process.stderr.isTTY;
    let lastPrinted = 0;
    cert = await certify(options, (line, final) => {
      if (tty) return void process.stderr.write(`\r\x1b[2K${line}${final ? '\n' : ''}`);
      if (final || Date.now() - lastPrinted >= 5000) {
        lastPrinted = Date.now();
        process.stderr.write(`${line}\n`);
      }
    });
    out = options.out ?? defaultOut();
    if (options.shards > 1) process.stdout.write(`${SHARD_MARKER}${JSON.stringify(cert)}\n`);
  }
  writeCertificate(cert, out);
  process.stderr.write(`${verdictText(cert)}\ncertificate: ${join(out, 'certificate.html')} (also certificate.json, junit.xml)\n`);
  return cert.passed ? 0 : 1;
}
