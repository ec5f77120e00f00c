/**
 * `studioline certify` and `studioline certify merge`: parse, run (or merge), write
 * certificate.json, certificate.html and junit.xml, print the verdict. A broken threshold ends with
 * exit 5 (a check failed); bad input throws ConfigError (exit 2).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '@studioline/server-kit';
import { Certificate, MergeError, Measurements, measurementsOf, merge } from './certificate.js';
import { certificateHtml } from './html.js';
import { certificateJunit } from './junit.js';
import { CERTIFY_OPTIONS, resolveCertifyOptions } from './options.js';
import { Command, ParsedArgs } from '../command.js';
import { CliError, EXIT } from '../exit-codes.js';
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

async function runMerge(files: string[], out: string | undefined, env: NodeJS.ProcessEnv): Promise<{ cert: Certificate; out: string }> {
  if (!files.length) throw new ConfigError('certify merge needs certificate files (or - for standard input)');
  try {
    return { cert: merge(readCertificates(files)), out: out ?? env.CERTIFY_OUT ?? defaultOut() };
  } catch (err) {
    if (err instanceof MergeError) throw new ConfigError(err.message);
    throw err;
  }
}

async function runCertification(flags: ParsedArgs['values'], env: NodeJS.ProcessEnv): Promise<{ cert: Certificate; out: string }> {
  const options = resolveCertifyOptions(flags, env);
  const tty = process.stderr.isTTY;
  let lastPrinted = 0;
  const cert = await certify(options, (line, final) => {
    if (tty) return void process.stderr.write(`\r\x1b[2K${line}${final ? '\n' : ''}`);
    if (final || Date.now() - lastPrinted >= 5000) {
      lastPrinted = Date.now();
      process.stderr.write(`${line}\n`);
    }
  });
  if (options.shards > 1) process.stdout.write(`${SHARD_MARKER}${JSON.stringify(cert)}\n`);
  return { cert, out: options.out ?? defaultOut() };
}

export const certifyCommand: Command = {
  name: 'certify',
  summary: 'certify a deployment with real peers; writes a certificate (JSON, HTML, JUnit)',
  usage: '--url URL --key KEY [options] | merge FILE... [--out DIR]',
  description: `Certifies a deployment: real peers in lines send real-rate PCM, SFrame-encrypted with keys made for
each line; every receiver decrypts and checks what it hears. Ramps up, holds, ramps down; writes
certificate.json, certificate.html and junit.xml; exits 5 when a threshold is broken (and names it),
2 on bad input. \`merge\` joins the shard certificates of a distributed run (files, or - for
stdin: \`kubectl logs\` output works as it is) into one. Each option is taken from its flag, else
its environment variable, else --values FILE, else its default.`,
  options: CERTIFY_OPTIONS,
  positionals: { min: 0, max: Infinity, names: ['merge', 'FILE'] },
  examples: [
    ['npx studioline certify --url http://127.0.0.1:7777/ --key "$APIKEY" --peers 10 --duration 20s', '10 peers in 1:1 lines for 20 s against the embedded server'],
    ['npx studioline certify --url https://calls.example.com/ --key "$APIKEY" --peers 200 --shards 8 --shard-index 0', 'one shard of a distributed run (the chart\'s Job sets the index)'],
    ['kubectl logs -l job-name=studioline-certify-3 | npx studioline certify merge -', 'one certificate from every shard\'s log'],
  ],
  async run({ values, positionals }, env) {
    const [mode, ...files] = positionals;
    if (mode !== undefined && mode !== 'merge') throw new CliError(`unexpected argument "${mode}": certify takes options, or \`merge FILE...\``);
    const { cert, out } = mode === 'merge' ? await runMerge(files, values.out as string | undefined, env) : await runCertification(values, env);
    writeCertificate(cert, out);
    process.stderr.write(`${verdictText(cert)}\ncertificate: ${join(out, 'certificate.html')} (also certificate.json, junit.xml)\n`);
    if (!cert.passed) throw new CliError(`the certification failed: ${cert.broken.join(', ')}`, EXIT.failed);
  },
};
