// Bundles the web client into dist/web: the page, its script, the call worker and the two AudioWorklet modules.
// No framework, no external request: everything the page needs is served by the gateway.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'dist', 'web');
mkdirSync(out, { recursive: true });
// hpke-js (membership's HPKE) ships ESM and a UMD build; the protocol package is CommonJS, so esbuild
// would take the UMD one, whose require() it cannot follow: point it at the ESM.
const requireHere = createRequire(import.meta.url);
const esm = (name) => join(dirname(requireHere.resolve(`${name}/package.json`)), 'esm', 'mod.js');
const alias = { '@hpke/core': esm('@hpke/core'), '@hpke/dhkem-x25519': esm('@hpke/dhkem-x25519') };
const common = { bundle: true, minify: true, sourcemap: true, target: ['chrome100', 'firefox100', 'safari15'], logLevel: 'warning', alias };
await build({ ...common, entryPoints: [join(here, 'src/main.ts')], outfile: join(out, 'app.js'), format: 'iife' });
await build({ ...common, entryPoints: [join(here, 'src/call-worker.ts')], outfile: join(out, 'call-worker.js'), format: 'iife' });
await build({ ...common, entryPoints: [join(here, 'src/capture-worklet.ts')], outfile: join(out, 'capture-worklet.js'), format: 'iife' });
await build({ ...common, entryPoints: [join(here, 'src/playback-worklet.ts')], outfile: join(out, 'playback-worklet.js'), format: 'iife' });
for (const f of ['index.html', 'styles.css']) copyFileSync(join(here, f), join(out, f));
