// IPAddressPool serviceAllocation: which pools a Service may use and in which order (allocator/pool-choice.ts),
// through the allocator. The random cases against a reference model are in allocator.property.test.ts.
import { describe, expect, it } from 'vitest';
import { AllocationError, Allocator } from '../../../allocator/allocator.js';
import type { ServiceAllocation } from '../../../config/model.js';
import { config, pool, req } from './helpers.js';

const sa = (s: Partial<ServiceAllocation>): ServiceAllocation => ({ namespaces: [], namespaceSelectors: [], serviceSelectors: [], ...s });
const failure = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof AllocationError) return e;
    throw e;
  }
  throw new Error('expected an AllocationError');
};

describe('pool choice (serviceAllocation)', () => {
  const pools = config(
    pool('open', ['192.0.2.0/30']),
    pool('late', ['192.0.2.4/30'], { serviceAllocation: sa({ namespaces: ['web'] }) }),
    pool('manual', ['192.0.2.8/30'], { autoAssign: false, serviceAllocation: sa({ priority: 1 }) }),
    pool('second', ['192.0.2.12/30'], { serviceAllocation: sa({ priority: 20, namespaceSelectors: [{ matchLabels: { team: 'a' }, matchExpressions: [] }] }) }),
    pool('first', ['192.0.2.16/30'], { serviceAllocation: sa({ priority: 10, serviceSelectors: [{ matchLabels: { tier: 'front' }, matchExpressions: [] }] }) }),
  );

  it('matching pools by priority (none last), then pools without serviceAllocation; autoAssign: false only on request', () => {
    const a = new Allocator(pools);
    const web = { namespaceLabels: { team: 'a' }, labels: { tier: 'front' } };
    expect(a.allocate(req('web/s1', web)).pool).toBe('first');
    expect(a.allocate(req('web/s2', { namespaceLabels: { team: 'a' } })).pool).toBe('second');
    expect(a.allocate(req('web/s3', { namespaceLabels: {} })).pool).toBe('late');
    expect(a.allocate(req('other/s4', { namespaceLabels: {} })).pool).toBe('open');
    // Exhausted preferred pools fall through to the next one the Service may use.
    for (let i = 0; i < 3; i++) a.allocate(req(`web/f${i}`, web));
    expect(a.allocate(req('web/s5', web)).pool).toBe('second');
    // A pool the Service may not use is never its fallback.
    for (let i = 0; i < 3; i++) a.allocate(req(`other/o${i}`, { namespaceLabels: {} }));
    expect(failure(() => a.allocate(req('other/s6', { namespaceLabels: {} }))).failure).toEqual({ reason: 'pool-exhausted', family: 'ipv4' });
    expect(a.allocate(req('other/s7', { namespaceLabels: {}, pool: 'manual' })).pool).toBe('manual');
  });

  it('a pool whose serviceAllocation excludes the Service refuses it even when named or asked for by address', () => {
    const a = new Allocator(pools);
    const named = failure(() => a.allocate(req('other/x', { namespaceLabels: {}, pool: 'late' })));
    expect(named.failure).toEqual({ reason: 'pool-not-allowed', pool: 'late' });
    expect(named.message).toMatch(/address pool "late" does not serve this Service: its serviceAllocation/);
    const asked = failure(() => a.allocate(req('other/y', { namespaceLabels: {}, requestedIps: ['192.0.2.5'] })));
    expect(asked.failure).toEqual({ reason: 'pool-not-allowed', pool: 'late', ip: '192.0.2.5' });
    expect(a.allocate(req('web/z', { namespaceLabels: {}, requestedIps: ['192.0.2.5'] })).ips).toEqual(['192.0.2.5']);
  });

  it('without its Namespace\'s labels a Service waits rather than take a pool that should have come later', () => {
    const a = new Allocator(pools);
    const e = failure(() => a.allocate(req('other/s')));
    expect(e.failure).toEqual({ reason: 'namespace-unknown', namespace: 'other' });
    expect(e.message).toMatch(/labels of namespace "other" are not known yet/);
    // A listed namespace needs no labels; a config without namespace selectors never asks for them.
    expect(new Allocator(config(pool('late', ['192.0.2.4/30'], { serviceAllocation: sa({ namespaces: ['web'] }) }))).allocate(req('web/s')).pool).toBe('late');
  });

  it('a config change that would choose another pool moves no Service (Herald never reshuffles)', () => {
    const before = config(pool('open', ['192.0.2.0/30']), pool('web', ['198.51.100.0/30']));
    const a = new Allocator(before);
    expect(a.allocate(req('web/s', { namespaceLabels: {} })).ips).toEqual(['192.0.2.0']);
    const after = config(
      pool('open', ['192.0.2.0/30'], { serviceAllocation: sa({ namespaces: ['other'] }) }),
      pool('web', ['198.51.100.0/30'], { serviceAllocation: sa({ priority: 1, namespaces: ['web'] }) }),
    );
    expect(a.checkConfig(after).some((c) => c.breaking)).toBe(false);
    a.setConfig(after);
    expect(a.allocate(req('web/s', { namespaceLabels: {} })).ips).toEqual(['192.0.2.0']);
    expect(a.allocate(req('web/t', { namespaceLabels: {} })).pool).toBe('web');
  });
});
