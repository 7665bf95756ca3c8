// Typed readers for the fields of a loaded document. Each records an issue naming the field's path and
// what was expected, and returns undefined for absent or invalid values. YAML null counts as absent.
import { Issues, keyPath, quote } from './issues.js';
import { YamlFloat } from './yaml.js';

export type Mapping = Record<string, unknown>;

export function isMapping(value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof YamlFloat);
}

export function isAbsent(value: unknown): value is null | undefined {
  return value === null || value === undefined;
}

/** "a string (\"x\")", "an integer (5)", "a list"...: what the document holds, for messages. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return `a string (${quote(value, 40)})`;
  if (typeof value === 'boolean') return `a boolean (${value})`;
  if (typeof value === 'number') return Number.isInteger(value) ? `an integer (${value})` : `a float (${value})`;
  if (value instanceof YamlFloat) return `a float (${value.text.slice(0, 40)})`;
  if (Array.isArray(value)) return 'a list';
  if (isMapping(value)) return 'a mapping';
  return `a ${typeof value}`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length];
}

/** The allowed key the user probably meant (`peerAddress` or `peer-adress` -> `peer-address`). */
function suggest(key: string, allowed: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const exact = allowed.find((a) => norm(a) === norm(key));
  if (exact) return exact;
  if (key.length > 40) return undefined;
  let best: string | undefined;
  let bestDistance = key.length >= 8 ? 4 : 3; // strictly fewer edits than this
  for (const a of allowed) {
    const d = editDistance(key, a);
    if (d < bestDistance) {
      best = a;
      bestDistance = d;
    }
  }
  return best;
}

/** Records an issue for every key of `obj` that is not in `allowed` (MetalLB parses strictly). */
export function checkKeys(obj: Mapping, path: string, allowed: readonly string[], issues: Issues): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key)) continue;
    const hint = suggest(key, allowed);
    issues.add(
      keyPath(path, key),
      `unknown key ${quote(key)}` + (hint ? `; did you mean "${hint}"?` : `; expected one of: ${allowed.join(', ')}`),
    );
  }
}

/** The mapping at `path`, or undefined after recording an issue. */
export function expectMapping(value: unknown, path: string, issues: Issues, what: string): Mapping | undefined {
  if (isMapping(value)) return value;
  issues.add(path, `expected ${what} (a mapping), got ${describe(value)}`);
  return undefined;
}

export function readString(
  obj: Mapping,
  key: string,
  path: string,
  issues: Issues,
  opts: { required?: boolean; what?: string } = {},
): string | undefined {
  const value = obj[key];
  const at = keyPath(path, key);
  if (isAbsent(value)) {
    if (opts.required) issues.add(at, `missing required ${opts.what ?? 'value'}`);
    return undefined;
  }
  if (typeof value === 'string') return value;
  const hint = typeof value === 'number' || typeof value === 'boolean' || value instanceof YamlFloat ? '; quote it' : '';
  issues.add(at, `expected ${opts.what ?? 'a string'} (a string), got ${describe(value)}${hint}`);
  return undefined;
}

export function readInteger(
  obj: Mapping,
  key: string,
  path: string,
  issues: Issues,
  opts: { min: number; max: number; required?: boolean; what: string },
): number | undefined {
  const value = obj[key];
  const at = keyPath(path, key);
  const expected = `${opts.what}, an integer from ${opts.min} to ${opts.max}`;
  if (isAbsent(value)) {
    if (opts.required) issues.add(at, `missing required ${expected}`);
    return undefined;
  }
  if (typeof value === 'number' && Number.isInteger(value)) {
    if (value < opts.min || value > opts.max) {
      issues.add(at, `${value} is out of range: expected ${expected}`);
      return undefined;
    }
    return value;
  }
  const hint = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? '; write it without quotes' : '';
  issues.add(at, `expected ${expected}, got ${describe(value)}${hint}`);
  return undefined;
}

export function readBoolean(obj: Mapping, key: string, path: string, issues: Issues): boolean | undefined {
  const value = obj[key];
  if (isAbsent(value)) return undefined;
  if (typeof value === 'boolean') return value;
  issues.add(keyPath(path, key), `expected true or false, got ${describe(value)}`);
  return undefined;
}

/** The list at `obj[key]` ([] when absent), or undefined after recording an issue. */
export function readList(obj: Mapping, key: string, path: string, issues: Issues, what: string): unknown[] | undefined {
  const value = obj[key];
  if (isAbsent(value)) return [];
  if (Array.isArray(value)) return value;
  issues.add(keyPath(path, key), `expected a list of ${what}, got ${describe(value)}`);
  return undefined;
}
