/**
 * The lines the bridge may join, and (a development option) phone accounts, from one JSON file
 * (SIP_DIRECTORY_FILE):
 *
 *   { "lines":  { "500":  { "link": "https://HOST/#apikey=KEY&leaf_LEAF" } },
 *     "phones": { "1001": { "password": "at least 12 characters", "line": "500" } } }
 *
 * Dialling a line's number joins that line. The link holds the line's key: the bridge is a member
 * of the line like any peer (README, threat model), and the links stay in this file (a mounted
 * Secret), never in Redis. Phone accounts are normally SIP extensions kept by keys-admin in Redis
 * (phone-accounts.ts); `phones` here serves a bridge without Redis (a phone without `line` may dial
 * every line). Errors name the entry and never echo a password or a link.
 */
import { CallLink, LinkError, parseCallLink } from '@studioline/protocol';
import { ConfigError, MIN_SIP_PASSWORD_LENGTH, SIP_NAME } from '@studioline/server-kit';

export interface StaticPhone {
  user: string;
  password: string;
  /** The one line number it may dial; undefined: any. */
  line?: string;
}

export interface LineEntry {
  number: string;
  link: CallLink;
}

export interface Directory {
  phones: Map<string, StaticPhone>;
  lines: Map<string, LineEntry>;
}

/** SIP user parts we accept as account names and dialled numbers: no escapes, no surprises in logs. */
const NAME = SIP_NAME;
export const MIN_PASSWORD_LENGTH = MIN_SIP_PASSWORD_LENGTH;

function entries(value: unknown, what: string, where: string): [string, Record<string, unknown>][] {
  if (value === undefined) return [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`${where}: "${what}" must be an object keyed by ${what === 'phones' ? 'account name' : 'number'}`);
  return Object.entries(value as Record<string, unknown>).map(([k, v]) => {
    if (!NAME.test(k)) throw new ConfigError(`${where}: ${what} entry "${k.slice(0, 40)}" is not a valid name (1-32 of A-Z a-z 0-9 _ . + -)`);
    if (typeof v !== 'object' || v === null) throw new ConfigError(`${where}: ${what} entry "${k}" must be an object`);
    return [k, v as Record<string, unknown>];
  });
}

/** `phonesRequired`: no other source of accounts (no Redis), so a directory without phones is useless. */
export function parseDirectory(text: string, where: string, phonesRequired = true): Directory {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${where} is not JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null) throw new ConfigError(`${where} must hold a JSON object with "phones" and "lines"`);
  const { phones: rawPhones, lines: rawLines, ...rest } = doc as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length) throw new ConfigError(`${where}: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u.slice(0, 40)}"`).join(', ')} (expected "phones" and "lines")`);
  const phones = new Map<string, StaticPhone>();
  for (const [user, v] of entries(rawPhones, 'phones', where)) {
    if (typeof v.password !== 'string' || v.password.length < MIN_PASSWORD_LENGTH) throw new ConfigError(`${where}: phone "${user}" needs a "password" of at least ${MIN_PASSWORD_LENGTH} characters`);
    if (v.line !== undefined && (typeof v.line !== 'string' || !NAME.test(v.line))) throw new ConfigError(`${where}: phone "${user}" has a "line" that is not a line number`);
    phones.set(user, { user, password: v.password, ...(typeof v.line === 'string' ? { line: v.line } : {}) });
  }
  const lines = new Map<string, LineEntry>();
  for (const [number, v] of entries(rawLines, 'lines', where)) {
    if (typeof v.link !== 'string') throw new ConfigError(`${where}: line "${number}" needs a "link" (a call link with its leaf key)`);
    let link: CallLink;
    try {
      link = parseCallLink(v.link);
    } catch (err) {
      throw new ConfigError(`${where}: line "${number}" has an unusable link: ${err instanceof LinkError ? err.message : 'it does not parse'}`);
    }
    if (!link.leafBytes) throw new ConfigError(`${where}: line "${number}" has a link without a leaf key (make one with \`studioline link\`)`);
    lines.set(number, { number, link });
  }
  if (phones.size === 0 && phonesRequired) throw new ConfigError(`${where} has no phones and no Redis is set (REDIS_URL) for keys-admin's extensions: no phone could register`);
  for (const n of lines.keys()) if (phones.has(n)) throw new ConfigError(`${where}: "${n}" is both a phone and a line; dialling it would be ambiguous`);
  return { phones, lines };
}
