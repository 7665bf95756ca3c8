// A JSON Schema (draft-07) checker for exactly the keywords charts/herald/values.schema.json uses,
// instead of a dependency. A schema using any other keyword is rejected (SchemaError), so the
// checker can never silently ignore a rule the schema states.

export class SchemaError extends Error {
  override readonly name = 'SchemaError';
}

export interface Violation {
  /** JSON-pointer-like path of the offending value, e.g. "/controller/replicas". */
  path: string;
  message: string;
}

type Schema = Record<string, unknown>;

const KEYWORDS = new Set([
  '$schema',
  'title',
  'description',
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'minimum',
  'maximum',
  'pattern',
  'minLength',
  '$ref',
  'definitions',
]);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function matchesType(v: unknown, type: string): boolean {
  const t = typeOf(v);
  return t === type || (type === 'number' && t === 'integer');
}

export function validate(root: Schema, value: unknown): Violation[] {
  const out: Violation[] = [];
  const resolve = (s: Schema): Schema => {
    const ref = s.$ref;
    if (typeof ref !== 'string') return s;
    const m = /^#\/definitions\/([^/]+)$/.exec(ref);
    const target = m ? (root.definitions as Record<string, Schema> | undefined)?.[m[1]] : undefined;
    if (!target) throw new SchemaError(`unresolvable $ref ${ref}`);
    return target;
  };
  const check = (schemaIn: Schema, v: unknown, path: string): void => {
    for (const k of Object.keys(schemaIn)) if (!KEYWORDS.has(k)) throw new SchemaError(`keyword ${k} at ${path || '/'} is not supported by this checker`);
    const s = resolve(schemaIn);
    const where = path || '/';
    if (typeof s.type === 'string' && !matchesType(v, s.type)) {
      out.push({ path: where, message: `expected ${s.type}, got ${typeOf(v)}` });
      return;
    }
    if (Array.isArray(s.enum) && !s.enum.includes(v)) out.push({ path: where, message: `must be one of ${s.enum.map((e) => JSON.stringify(e)).join(', ')}` });
    if (typeof v === 'number') {
      if (typeof s.minimum === 'number' && v < s.minimum) out.push({ path: where, message: `must be >= ${s.minimum}` });
      if (typeof s.maximum === 'number' && v > s.maximum) out.push({ path: where, message: `must be <= ${s.maximum}` });
    }
    if (typeof v === 'string') {
      if (typeof s.minLength === 'number' && v.length < s.minLength) out.push({ path: where, message: `must be at least ${s.minLength} characters` });
      if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v)) out.push({ path: where, message: `must match ${s.pattern}` });
    }
    if (Array.isArray(v) && s.items && typeof s.items === 'object') v.forEach((item, i) => check(s.items as Schema, item, `${path}/${i}`));
    if (typeOf(v) === 'object') {
      const obj = v as Record<string, unknown>;
      const props = (s.properties ?? {}) as Record<string, Schema>;
      for (const r of (s.required ?? []) as string[]) if (!(r in obj)) out.push({ path: `${path}/${r}`, message: 'is required' });
      for (const [k, item] of Object.entries(obj)) {
        if (props[k]) check(props[k], item, `${path}/${k}`);
        else if (s.additionalProperties === false) out.push({ path: `${path}/${k}`, message: 'is not allowed (additionalProperties: false)' });
        else if (typeof s.additionalProperties === 'object' && s.additionalProperties !== null) check(s.additionalProperties as Schema, item, `${path}/${k}`);
      }
    }
  };
  check(root, value, '');
  return out;
}
