// Bounds a loaded document before anything validates it. YAML aliases are shared references, so a
// "billion laughs" document is small in memory but huge to walk; cyclic aliases never end. Counting
// every visit (as if aliases were expanded) and capping depth stops both before any real work.
import { Issues } from './issues.js';
import { YamlFloat } from './yaml.js';

/** A real config is at most ~8 levels deep; anything near this is hostile or broken. */
export const MAX_DEPTH = 64;
/** Nodes visited with aliases expanded: room for tens of thousands of pools, far below a bomb. */
export const MAX_NODES = 1_000_000;

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** True when `value` is plain data (maps, lists, scalars) within the limits; else records one issue. */
export function checkShape(value: unknown, path: string, issues: Issues): boolean {
  let nodes = 0;
  // Iterative walk: recursion here would itself be the stack overflow we guard against.
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const top = stack.pop() as { value: unknown; depth: number };
    nodes++;
    if (nodes > MAX_NODES) {
      issues.add(path, `document has more than ${MAX_NODES} values once YAML aliases are expanded (a YAML bomb?)`);
      return false;
    }
    if (top.depth > MAX_DEPTH) {
      issues.add(path, `document is nested more than ${MAX_DEPTH} levels deep (or contains a cyclic alias)`);
      return false;
    }
    const v = top.value;
    if (v === null || v === undefined || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') continue;
    if (v instanceof YamlFloat) continue;
    if (Array.isArray(v)) {
      for (const item of v) stack.push({ value: item, depth: top.depth + 1 });
      continue;
    }
    if (typeof v === 'object' && isPlainObject(v)) {
      for (const key of Object.keys(v)) stack.push({ value: (v as Record<string, unknown>)[key], depth: top.depth + 1 });
      continue;
    }
    issues.add(path, `document contains a ${typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v} value; a config holds only mappings, lists, strings, numbers and booleans`);
    return false;
  }
  return true;
}
