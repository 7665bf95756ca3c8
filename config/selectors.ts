// Peer node selectors: parsing (with Kubernetes label syntax checks) and matching against a node's labels.
// Semantics as in MetalLB: selectors are OR'd, the parts of one selector AND'd, no selectors = every node.
import { isDnsSubdomain } from './dns-subdomain.js';
import { checkKeys, describe, expectMapping, isAbsent, readList, readString } from './fields.js';
import { Issues, indexPath, keyPath, quote } from './issues.js';
import type { LabelSelectorRequirement, NodeSelector, SelectorOperator } from './model.js';

const OPERATORS: readonly SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];
const NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;

/** Why `key` is not a Kubernetes label key (`[prefix/]name`), or undefined if it is one. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (!isDnsSubdomain(prefix))) {
    return `label key ${quote(key)} has an invalid prefix: expected a DNS subdomain like "kubernetes.io"`;
  }
  if (name.length === 0 || name.length > 63 || !NAME.test(name)) {
    return `label key ${quote(key)} is invalid: expected [prefix/]name, name at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric`;
  }
  return undefined;
}

/** Why `value` is not a Kubernetes label value, or undefined if it is one (empty is allowed). */
export function labelValueProblem(value: string): string | undefined {
  if (value === '' || (value.length <= 63 && NAME.test(value))) return undefined;
  return `label value ${quote(value)} is invalid: expected at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric`;
}

function parseMatchLabels(value: unknown, path: string, issues: Issues): Record<string, string> {
  const entries: [string, string][] = [];
  if (isAbsent(value)) return {};
  const map = expectMapping(value, path, issues, 'labels');
  if (!map) return {};
  for (const key of Object.keys(map)) {
    const at = keyPath(path, key);
    const keyProblem = labelKeyProblem(key);
    if (keyProblem) issues.add(at, keyProblem);
    const v = map[key];
    if (typeof v !== 'string') {
      issues.add(at, `expected a label value (a string), got ${describe(v)}${typeof v === 'number' || typeof v === 'boolean' ? '; quote it' : ''}`);
      continue;
    }
    const valueProblem = labelValueProblem(v);
    if (valueProblem) issues.add(at, valueProblem);
    entries.push([key, v]);
  }
  // fromEntries makes own properties even for keys like "__proto__".
  return Object.fromEntries(entries);
}

function parseExpression(value: unknown, path: string, issues: Issues): LabelSelectorRequirement | undefined {
  const expr = expectMapping(value, path, issues, 'a match expression');
  if (!expr) return undefined;
  checkKeys(expr, path, ['key', 'operator', 'values'], issues);
  const key = readString(expr, 'key', path, issues, { required: true, what: 'label key' });
  if (key !== undefined) {
    const problem = labelKeyProblem(key);
    if (problem) issues.add(keyPath(path, 'key'), problem);
  }
  const operator = readString(expr, 'operator', path, issues, { required: true, what: 'operator' });
  if (operator !== undefined && !OPERATORS.includes(operator as SelectorOperator)) {
    issues.add(keyPath(path, 'operator'), `unknown operator ${quote(operator)}: expected one of ${OPERATORS.join(', ')}`);
  }
  const values: string[] = [];
  const list = readList(expr, 'values', path, issues, 'label values');
  list?.forEach((v, i) => {
    const at = indexPath(keyPath(path, 'values'), i);
    if (typeof v !== 'string') {
      issues.add(at, `expected a label value (a string), got ${describe(v)}`);
      return;
    }
    const problem = labelValueProblem(v);
    if (problem) issues.add(at, problem);
    values.push(v);
  });
  if (list && (operator === 'In' || operator === 'NotIn') && list.length === 0) {
    issues.add(keyPath(path, 'values'), `operator ${operator} needs at least one value`);
  }
  if (list && (operator === 'Exists' || operator === 'DoesNotExist') && list.length > 0) {
    issues.add(keyPath(path, 'values'), `operator ${operator} takes no values`);
  }
  if (key === undefined || operator === undefined || !OPERATORS.includes(operator as SelectorOperator)) return undefined;
  return { key, operator: operator as SelectorOperator, values };
}

/** `node-selectors` of a peer; `path` is the path of the list. */
export function parseNodeSelectors(list: unknown[], path: string, issues: Issues): NodeSelector[] {
  const selectors: NodeSelector[] = [];
  list.forEach((item, i) => {
    const at = indexPath(path, i);
    // A bare `-` selects every node, as in MetalLB (an empty selector is labels.Everything()).
    if (isAbsent(item)) {
      selectors.push({ matchLabels: {}, matchExpressions: [] });
      return;
    }
    const sel = expectMapping(item, at, issues, 'a node selector');
    if (!sel) return;
    checkKeys(sel, at, ['match-labels', 'match-expressions'], issues);
    const matchLabels = parseMatchLabels(sel['match-labels'], keyPath(at, 'match-labels'), issues);
    const matchExpressions: LabelSelectorRequirement[] = [];
    readList(sel, 'match-expressions', at, issues, 'match expressions')?.forEach((e, j) => {
      const req = parseExpression(e, indexPath(keyPath(at, 'match-expressions'), j), issues);
      if (req) matchExpressions.push(req);
    });
    selectors.push({ matchLabels, matchExpressions });
  });
  return selectors;
}

function has(labels: Record<string, string>, key: string): boolean {
  return Object.hasOwn(labels, key);
}

function matchesOne(selector: NodeSelector, labels: Record<string, string>): boolean {
  for (const key of Object.keys(selector.matchLabels)) {
    if (!has(labels, key) || labels[key] !== selector.matchLabels[key]) return false;
  }
  for (const req of selector.matchExpressions) {
    const present = has(labels, req.key);
    switch (req.operator) {
      case 'In':
        if (!present || !req.values.includes(labels[req.key])) return false;
        break;
      case 'NotIn':
        // As in Kubernetes: a node without the label is "not in" any set of values.
        if (present && req.values.includes(labels[req.key])) return false;
        break;
      case 'Exists':
        if (!present) return false;
        break;
      case 'DoesNotExist':
        if (present) return false;
        break;
    }
  }
  return true;
}

/** Whether a node with these labels is selected: any selector matching suffices; no selectors match every node. */
export function matchesNode(selectors: readonly NodeSelector[], labels: Record<string, string>): boolean {
  if (selectors.length === 0) return true;
  return selectors.some((s) => matchesOne(s, labels));
}

/** What one selector asks of one label key: the conjunction of its requirements on that key. */
interface KeyConstraint {
  present: boolean;
  absent: boolean;
  /** The value must be in this set (the intersection of In lists and match-labels), when set. */
  allowed?: Set<string>;
  excluded: Set<string>;
}

/** One selector as constraints per label key, and whether any labels satisfy it alone. */
interface SelectorConstraint {
  keys: Map<string, KeyConstraint>;
  satisfiable: boolean;
}

/** A peer's node-selectors, prepared once for many pairwise checks (empty = every node). */
export type NodeSelection = SelectorConstraint[];

/** Whether one value can satisfy both constraints on a key (label values are unbounded strings). */
function keyCompatible(x: KeyConstraint, y: KeyConstraint | undefined): boolean {
  const present = x.present || (y?.present ?? false);
  const absent = x.absent || (y?.absent ?? false);
  if (present && absent) return false;
  const a = x.allowed;
  const b = y?.allowed;
  if (!a && !b) return true;
  const [small, other] = a && b ? (a.size <= b.size ? [a, b] : [b, a]) : [(a ?? b) as Set<string>, undefined];
  for (const v of small) if ((!other || other.has(v)) && !x.excluded.has(v) && !(y?.excluded.has(v) ?? false)) return true;
  return false;
}

function constraintOf(s: NodeSelector): SelectorConstraint {
  const keys = new Map<string, KeyConstraint>();
  const on = (key: string): KeyConstraint => {
    let c = keys.get(key);
    if (!c) keys.set(key, (c = { present: false, absent: false, excluded: new Set() }));
    return c;
  };
  const allow = (c: KeyConstraint, values: readonly string[]) => {
    c.present = true;
    c.allowed = new Set(c.allowed ? values.filter((v) => c.allowed?.has(v)) : values);
  };
  for (const key of Object.keys(s.matchLabels)) allow(on(key), [s.matchLabels[key]]);
  for (const req of s.matchExpressions) {
    const c = on(req.key);
    if (req.operator === 'In') allow(c, req.values);
    else if (req.operator === 'NotIn') for (const v of req.values) c.excluded.add(v);
    else if (req.operator === 'Exists') c.present = true;
    else c.absent = true;
  }
  return { keys, satisfiable: [...keys.values()].every((c) => keyCompatible(c, undefined)) };
}

export function nodeSelection(selectors: readonly NodeSelector[]): NodeSelection {
  return selectors.length > 0 ? selectors.map(constraintOf) : [{ keys: new Map(), satisfiable: true }];
}

function bothSatisfiable(x: SelectorConstraint, y: SelectorConstraint): boolean {
  if (!x.satisfiable || !y.satisfiable) return false;
  const [small, big] = x.keys.size <= y.keys.size ? [x, y] : [y, x];
  for (const [key, c] of small.keys) if (!keyCompatible(c, big.keys.get(key))) return false;
  return true;
}

/**
 * Whether one node could be selected by both (selectors OR'd; none = every node): decided from the
 * selectors alone, exactly, so it holds for any labels the cluster's nodes may ever have.
 */
export function selectionsCanShareNode(a: NodeSelection, b: NodeSelection): boolean {
  return a.some((x) => b.some((y) => bothSatisfiable(x, y)));
}

export function selectorsCanShareNode(a: readonly NodeSelector[], b: readonly NodeSelector[]): boolean {
  return selectionsCanShareNode(nodeSelection(a), nodeSelection(b));
}
