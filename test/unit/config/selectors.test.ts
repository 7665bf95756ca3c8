import { describe, expect, it } from 'vitest';
import type { NodeSelector } from '../../../config/model.js';
import { labelKeyProblem, labelValueProblem, matchesNode } from '../../../config/selectors.js';

const sel = (matchLabels: Record<string, string>, matchExpressions: NodeSelector['matchExpressions'] = []): NodeSelector => ({
  matchLabels,
  matchExpressions,
});

describe('matchesNode', () => {
  const node = { 'kubernetes.io/hostname': 'node-a', rack: 'r1', zone: 'z1' };

  it('no selectors select every node', () => {
    expect(matchesNode([], node)).toBe(true);
    expect(matchesNode([], {})).toBe(true);
  });

  it('an empty selector selects every node', () => {
    expect(matchesNode([sel({})], {})).toBe(true);
  });

  it('match-labels must all be equal (AND)', () => {
    expect(matchesNode([sel({ rack: 'r1' })], node)).toBe(true);
    expect(matchesNode([sel({ rack: 'r1', zone: 'z1' })], node)).toBe(true);
    expect(matchesNode([sel({ rack: 'r1', zone: 'z2' })], node)).toBe(false);
    expect(matchesNode([sel({ missing: '' })], node)).toBe(false);
  });

  it('selectors are OR-ed', () => {
    expect(matchesNode([sel({ rack: 'r2' }), sel({ zone: 'z1' })], node)).toBe(true);
    expect(matchesNode([sel({ rack: 'r2' }), sel({ zone: 'z2' })], node)).toBe(false);
  });

  it('operators follow Kubernetes semantics', () => {
    const expr = (operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist', key: string, values: string[] = []) => [sel({}, [{ key, operator, values }])];
    expect(matchesNode(expr('In', 'rack', ['r1', 'r2']), node)).toBe(true);
    expect(matchesNode(expr('In', 'rack', ['r2']), node)).toBe(false);
    expect(matchesNode(expr('In', 'missing', ['r1']), node)).toBe(false);
    expect(matchesNode(expr('NotIn', 'rack', ['r2']), node)).toBe(true);
    expect(matchesNode(expr('NotIn', 'rack', ['r1']), node)).toBe(false);
    expect(matchesNode(expr('NotIn', 'missing', ['r1']), node)).toBe(true); // absent label is "not in"
    expect(matchesNode(expr('Exists', 'rack'), node)).toBe(true);
    expect(matchesNode(expr('Exists', 'missing'), node)).toBe(false);
    expect(matchesNode(expr('DoesNotExist', 'missing'), node)).toBe(true);
    expect(matchesNode(expr('DoesNotExist', 'rack'), node)).toBe(false);
  });

  it('labels and expressions of one selector are AND-ed', () => {
    const s = sel({ rack: 'r1' }, [{ key: 'zone', operator: 'In', values: ['z2'] }]);
    expect(matchesNode([s], node)).toBe(false);
    expect(matchesNode([s], { rack: 'r1', zone: 'z2' })).toBe(true);
  });

  it('does not see inherited properties as labels', () => {
    expect(matchesNode([sel({}, [{ key: 'constructor', operator: 'Exists', values: [] }])], {})).toBe(false);
    expect(matchesNode([sel({}, [{ key: 'toString', operator: 'DoesNotExist', values: [] }])], {})).toBe(true);
  });
});

describe('label syntax', () => {
  it.each(['rack', 'kubernetes.io/hostname', 'a', 'a-b_c.d', 'example.com/x', `${'a'.repeat(63)}`])('key %j is valid', (key) => {
    expect(labelKeyProblem(key)).toBeUndefined();
  });
  it.each(['', '-a', 'a-', 'a b', 'Example.com/x', '/x', 'example.com/', `${'a'.repeat(64)}`, 'a/b/c'])('key %j is invalid', (key) => {
    expect(labelKeyProblem(key)).toMatch(/label key/);
  });
  it.each(['', 'r1', 'a.b-c_d', 'A'.repeat(63)])('value %j is valid', (v) => {
    expect(labelValueProblem(v)).toBeUndefined();
  });
  it.each(['-x', 'x-', 'a b', 'a/b', 'a'.repeat(64)])('value %j is invalid', (v) => {
    expect(labelValueProblem(v)).toMatch(/label value/);
  });
});
