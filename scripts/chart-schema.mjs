// Generates charts/studioline/values.schema.json from values.yaml and its `## @param path text`
// comments (the bitnami convention), so that the schema, the values and their docs cannot drift.
//   node scripts/chart-schema.mjs          write the schema
//   node scripts/chart-schema.mjs --check  exit 1 when the schema is stale or a value has no @param
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';

const chart = join(new URL('..', import.meta.url).pathname, 'charts/studioline');
const text = readFileSync(join(chart, 'values.yaml'), 'utf8');
const values = YAML.parse(text);
const params = new Map([...text.matchAll(/^\s*## @param (\S+) (.+)$/gm)].map((m) => [m[1], m[2].trim()]));
const ENUMS = { 'redis.mode': ['bundled', 'external', 'sentinel', 'cluster'], 'config.logLevel': ['trace', 'debug', 'info', 'warn', 'error'], 'sipBridge.expose': ['hostPort', 'nodePort'] };

function typeOf(v) {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

const problems = [];
function schemaFor(value, path) {
  const documented = params.get(path);
  if (documented !== undefined || typeOf(value) !== 'object') {
    if (documented === undefined) problems.push(`${path} has no ## @param`);
    const s = { type: typeOf(value), description: documented, default: value };
    if (ENUMS[path]) s.enum = ENUMS[path];
    return s;
  }
  // An undocumented object is a group: its keys are documented one by one, and nothing else goes.
  const properties = {};
  for (const [k, v] of Object.entries(value)) properties[k] = schemaFor(v, path ? `${path}.${k}` : k);
  return { type: 'object', additionalProperties: false, properties };
}

const schema = { $schema: 'http://json-schema.org/draft-07/schema#', title: 'Studioline chart values', ...schemaFor(values, '') };
for (const p of params.keys()) {
  if (p.split('.').reduce((o, k) => (o && typeof o === 'object' ? o[k] : undefined), values) === undefined) problems.push(`## @param ${p} names no value`);
}
const out = JSON.stringify(schema, null, 2) + '\n';
const target = join(chart, 'values.schema.json');
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {}
  if (current !== out) problems.push('values.schema.json is stale: run node scripts/chart-schema.mjs');
  if (problems.length) {
    console.error(problems.join('\n'));
    process.exit(1);
  }
  console.log('values.schema.json is up to date');
} else {
  if (problems.length) {
    console.error(problems.join('\n'));
    process.exit(1);
  }
  writeFileSync(target, out);
  console.log(`wrote ${target}`);
}
