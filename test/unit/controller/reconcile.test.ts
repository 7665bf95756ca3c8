// The per-Service decision: keep, allocate, clear and release, fail (pending), and start-up restore.
import { describe, expect, it } from 'vitest';
import type { V1Service } from '@kubernetes/client-node';
import { Allocator } from '../../../allocator/allocator.js';
import { decide, planClear, restoreFromStatuses, whyNotHandled, type Decision } from '../../../controller/reconcile.js';
import { sameIps, statusIps, statusWithIps } from '../../../controller/service-status.js';
import { config, pool } from '../allocator/helpers.js';
import type { ServiceRequest } from '../../../allocator/service-request.js';

function svc(name: string, opts: { spec?: V1Service['spec']; annotations?: Record<string, string>; ips?: string[]; created?: string } = {}): V1Service {
  return {
    metadata: { name, namespace: 'ns', annotations: opts.annotations, creationTimestamp: opts.created ? new Date(opts.created) : undefined },
    spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }], ...opts.spec },
    status: opts.ips ? { loadBalancer: { ingress: opts.ips.map((ip) => ({ ip })) } } : {},
  };
}

const cfg = config(pool('main', ['192.0.2.0/30', '2001:db8::/126']), pool('extra', ['198.51.100.0/30'], { autoAssign: false }));

describe('decide', () => {
  it('allocates the lowest address, then keeps it without a status change', () => {
    const a = new Allocator(cfg);
    const d = decide('ns/a', svc('a'), a);
    expect(d).toMatchObject({ kind: 'assigned', changed: true, moved: false, assignment: { ips: ['192.0.2.0'], pool: 'main' } });
    expect(decide('ns/a', svc('a', { ips: ['192.0.2.0'] }), a)).toMatchObject({ kind: 'assigned', changed: false, moved: false });
  });

  it('dual-stack in the Service family order', () => {
    const a = new Allocator(cfg);
    const d = decide('ns/d', svc('d', { spec: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] } }), a);
    expect(d).toMatchObject({ kind: 'assigned', assignment: { ips: ['2001:db8::', '192.0.2.0'] } });
  });

  it('a changed requested IP moves the Service (moved: the old address is free once its status no longer shows it)', () => {
    const a = new Allocator(cfg);
    decide('ns/r', svc('r', { spec: { loadBalancerIP: '192.0.2.1' } }), a);
    const d = decide('ns/r', svc('r', { spec: { loadBalancerIP: '192.0.2.2' }, ips: ['192.0.2.1'] }), a);
    expect(d).toMatchObject({ kind: 'assigned', changed: true, moved: true, assignment: { ips: ['192.0.2.2'] }, freed: [] });
    expect(decide('ns/x', svc('x'), a)).toMatchObject({ assignment: { ips: ['192.0.2.0'] } });
    // r's status still shows 192.0.2.1 until the write lands: not handed out.
    expect(decide('ns/y', svc('y'), a)).toMatchObject({ assignment: { ips: ['192.0.2.3'] } });
    expect(decide('ns/r', svc('r', { spec: { loadBalancerIP: '192.0.2.2' }, ips: ['192.0.2.2'] }), a)).toMatchObject({ kind: 'assigned', changed: false, freed: ['192.0.2.1'] });
    expect(decide('ns/z', svc('z'), a)).toMatchObject({ assignment: { ips: ['192.0.2.1'] } });
  });

  it('an address a status still shows is handed out only once the write that clears it is seen (two statuses never show one address)', () => {
    const a = new Allocator(cfg);
    decide('ns/f', svc('f'), a);
    const waiting = decide('ns/a', svc('a', { spec: { loadBalancerIP: '192.0.2.0' } }), a);
    expect(waiting).toMatchObject({ kind: 'failed', reason: expect.stringContaining('in use by ns/f') });
    // f now asks for an address outside the pools: it releases 192.0.2.0, but its status still shows it.
    const d = decide('ns/f', svc('f', { spec: { loadBalancerIP: '203.0.113.1' }, ips: ['192.0.2.0'] }), a);
    expect(d).toMatchObject({ kind: 'failed', released: true, statusIps: ['192.0.2.0'], freed: [] });
    expect(decide('ns/a', svc('a', { spec: { loadBalancerIP: '192.0.2.0' } }), a)).toMatchObject({
      kind: 'failed',
      reason: "requested address 192.0.2.0 is in use by ns/f: ns/f's status still shows it until the status write that clears it lands",
    });
    expect(decide('ns/f', svc('f', { spec: { loadBalancerIP: '203.0.113.1' } }), a)).toMatchObject({ kind: 'failed', released: false, freed: ['192.0.2.0'] });
    expect(decide('ns/a', svc('a', { spec: { loadBalancerIP: '192.0.2.0' } }), a)).toMatchObject({ kind: 'assigned', assignment: { ips: ['192.0.2.0'] } });
  });

  it('a Service whose request changes back takes the address its status still shows', () => {
    const a = new Allocator(cfg);
    decide('ns/f', svc('f'), a);
    decide('ns/f', svc('f', { spec: { loadBalancerIP: '203.0.113.1' }, ips: ['192.0.2.0'] }), a);
    expect(decide('ns/f', svc('f', { ips: ['192.0.2.0'] }), a)).toMatchObject({ kind: 'assigned', changed: false, assignment: { ips: ['192.0.2.0'] }, freed: [] });
  });

  it('a requested IP outside the pools: the held address is released and the status must be cleared', () => {
    const a = new Allocator(cfg);
    decide('ns/r', svc('r'), a);
    const d = decide('ns/r', svc('r', { spec: { loadBalancerIP: '203.0.113.9' }, ips: ['192.0.2.0'] }), a);
    expect(d).toMatchObject({ kind: 'failed', released: true, statusIps: ['192.0.2.0'], freed: [] });
    if (d.kind === 'failed') expect(d.reason).toBe('requested address 203.0.113.9 is not in any address pool');
    expect(a.assignmentOf('ns/r')).toBeUndefined();
  });

  it('an unknown pool annotation fails without holding anything; an invalid spec names the field', () => {
    const a = new Allocator(cfg);
    const d = decide('ns/p', svc('p', { annotations: { 'metallb.universe.tf/address-pool': 'nope' } }), a);
    expect(d).toMatchObject({ kind: 'failed', released: false, statusIps: [] });
    if (d.kind === 'failed') expect(d.reason).toBe('address pool "nope" does not exist');
    const bad = decide('ns/b', svc('b', { spec: { loadBalancerIP: 'not-an-ip' } }), a);
    expect(bad.kind === 'failed' && bad.reason).toBe('spec.loadBalancerIP: "not-an-ip" is not an IP address');
  });

  it('pool exhaustion fails; the released address lets it through on retry', () => {
    const a = new Allocator(config(pool('tiny', ['192.0.2.0/31'])));
    decide('ns/a', svc('a'), a);
    decide('ns/b', svc('b'), a);
    expect(decide('ns/c', svc('c'), a)).toMatchObject({ kind: 'failed' });
    expect(decide('ns/a', undefined, a)).toEqual({ kind: 'deleted', freed: ['192.0.2.0'] });
    expect(decide('ns/c', svc('c'), a)).toMatchObject({ kind: 'assigned', assignment: { ips: ['192.0.2.0'] } });
    expect(decide('ns/gone', undefined, a)).toEqual({ kind: 'deleted', freed: [] });
  });

  it('type change and class change clear and release; other classes are left alone', () => {
    const a = new Allocator(cfg);
    decide('ns/t', svc('t'), a);
    const d = decide('ns/t', svc('t', { spec: { type: 'ClusterIP' }, ips: ['192.0.2.0'] }), a);
    expect(d).toMatchObject({ kind: 'clear', released: true, statusIps: ['192.0.2.0'], reason: 'the Service is of type ClusterIP, not LoadBalancer' });
    decide('ns/c', svc('c'), a);
    expect(decide('ns/c', svc('c', { spec: { loadBalancerClass: 'other' }, ips: ['192.0.2.0'] }), a)).toMatchObject({ kind: 'clear', released: true });
    // Never ours: a foreign class keeps what its controller wrote; a stale non-LB status is cleared.
    expect(decide('ns/f', svc('f', { spec: { loadBalancerClass: 'other' }, ips: ['203.0.113.1'] }), a)).toEqual({ kind: 'ignore', freed: [] });
    expect(decide('ns/n', svc('n', { spec: { type: 'NodePort' }, ips: ['203.0.113.1'] }), a)).toMatchObject({ kind: 'clear', released: false });
    expect(decide('ns/n', svc('n', { spec: { type: 'NodePort' } }), a)).toEqual({ kind: 'ignore', freed: [] });
  });

  it('a 1.32 server empties the status itself on a type change: the release is still reported', () => {
    const a = new Allocator(cfg);
    decide('ns/t', svc('t'), a);
    // 1.20: the update still carries our status; we clear it and report.
    const old = decide('ns/t', svc('t', { spec: { type: 'ClusterIP' }, ips: ['192.0.2.0'] }), a) as Extract<Decision, { kind: 'clear' }>;
    expect(planClear(old)).toEqual({
      writeStatus: true,
      report: { ips: ['192.0.2.0'], note: 'removed addresses 192.0.2.0: the Service is of type ClusterIP, not LoadBalancer', reason: 'the Service is of type ClusterIP, not LoadBalancer' },
    });
    // 1.32: the update arrives with status.loadBalancer already empty; nothing to write, same report.
    decide('ns/t', svc('t'), a);
    const d = decide('ns/t', svc('t', { spec: { type: 'ClusterIP' } }), a) as Extract<Decision, { kind: 'clear' }>;
    expect(d).toMatchObject({ kind: 'clear', released: true, releasedIps: ['192.0.2.0'], statusIps: [], removed: ['192.0.2.0'] });
    const plan = planClear(d);
    expect(plan.writeStatus).toBe(false);
    expect(plan.report?.ips).toEqual(['192.0.2.0']);
    expect(plan.report?.note).toBe('removed addresses 192.0.2.0: the Service is of type ClusterIP, not LoadBalancer (the API server had already emptied the status)');
    // Released: the next Service gets the address.
    expect(decide('ns/u', svc('u'), a)).toMatchObject({ assignment: { ips: ['192.0.2.0'] } });
    // Dual-stack: both addresses are reported.
    const dual = { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] };
    decide('ns/d', svc('d', { spec: { ...dual } }), a);
    const dd = decide('ns/d', svc('d', { spec: { ...dual, type: 'NodePort' } }), a) as Extract<Decision, { kind: 'clear' }>;
    expect(planClear(dd).report?.ips).toEqual(['192.0.2.1', '2001:db8::']);
    // Never ours and already empty: nothing to write or report.
    expect(decide('ns/n', svc('n', { spec: { type: 'NodePort' } }), a)).toEqual({ kind: 'ignore', freed: [] });
  });

  it('--lb-class: only Services of that class', () => {
    const a = new Allocator(cfg);
    expect(whyNotHandled(svc('x'), { lbClass: 'herald' })).toBe('the Service has no loadBalancerClass (this controller handles "herald")');
    expect(whyNotHandled(svc('x', { spec: { loadBalancerClass: 'herald' } }), { lbClass: 'herald' })).toBeUndefined();
    expect(whyNotHandled(svc('x', { spec: { loadBalancerClass: 'herald' } }), {})).toContain('handled by another controller');
    expect(decide('ns/x', svc('x', { spec: { loadBalancerClass: 'herald' } }), a, { lbClass: 'herald' })).toMatchObject({ kind: 'assigned' });
    expect(decide('ns/y', svc('y'), a, { lbClass: 'herald' })).toEqual({ kind: 'ignore', freed: [] });
  });
});

describe('addresses held by Services we do not handle', () => {
  const other = (name: string, ips: string[]) => svc(name, { spec: { loadBalancerClass: 'other.io/lb' }, ips });

  it('are never handed out: not as the lowest free address, not when requested, not to a shared key', () => {
    const a = new Allocator(cfg);
    expect(decide('ns/f', other('f', ['192.0.2.0', '2001:db8::']), a)).toEqual({ kind: 'ignore', freed: [] });
    expect(decide('ns/a', svc('a'), a)).toMatchObject({ assignment: { ips: ['192.0.2.1'] } });
    const asked = decide('ns/r', svc('r', { spec: { loadBalancerIP: '192.0.2.0' } }), a);
    expect(asked).toMatchObject({ kind: 'failed', reason: expect.stringContaining('ns/f, a Service this controller does not handle (another loadBalancerClass), holds it') });
    const shared = { 'metallb.universe.tf/allow-shared-ip': 'k' };
    expect(decide('ns/s', svc('s', { annotations: shared, spec: { loadBalancerIP: '192.0.2.0' } }), a)).toMatchObject({ kind: 'failed' });
    expect(decide('ns/d', svc('d', { spec: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] } }), a)).toMatchObject({ assignment: { ips: ['2001:db8::1', '192.0.2.2'] } });
    expect(a.stats()[0].ipv4!.inUse).toBe(3);
  });

  it('follow the Service: a changed status moves the hold, deletion frees it (released, so pending Services retry)', () => {
    const a = new Allocator(cfg);
    decide('ns/f', other('f', ['192.0.2.0']), a);
    expect(decide('ns/f', other('f', ['192.0.2.3']), a)).toEqual({ kind: 'ignore', freed: ['192.0.2.0'] });
    expect(decide('ns/f', other('f', ['192.0.2.3']), a)).toEqual({ kind: 'ignore', freed: [] });
    expect(decide('ns/a', svc('a'), a)).toMatchObject({ assignment: { ips: ['192.0.2.0'] } });
    expect(decide('ns/f', undefined, a)).toEqual({ kind: 'deleted', freed: ['192.0.2.3'] });
    expect(decide('ns/r', svc('r', { spec: { loadBalancerIP: '192.0.2.3' } }), a)).toMatchObject({ kind: 'assigned' });
  });

  it('one of ours already holding the address keeps it; the conflict is reported', () => {
    const a = new Allocator(cfg);
    decide('ns/a', svc('a'), a);
    expect(decide('ns/f', other('f', ['192.0.2.0']), a)).toEqual({ kind: 'ignore', freed: [], conflicts: [{ ip: '192.0.2.0', holders: ['ns/a'] }] });
    expect(decide('ns/a', svc('a', { ips: ['192.0.2.0'] }), a)).toMatchObject({ kind: 'assigned', changed: false });
    // Ours goes: the address stays taken by the other Service.
    decide('ns/a', undefined, a);
    expect(decide('ns/b', svc('b'), a)).toMatchObject({ assignment: { ips: ['192.0.2.1'] } });
  });

  it('restore: counted as taken, after our own Services (which keep a conflicting address)', () => {
    const a = new Allocator(cfg);
    const problems = restoreFromStatuses(a, [other('f', ['192.0.2.1']), svc('mine', { ips: ['192.0.2.2'] }), other('g', ['192.0.2.2', '2001:db8::'])]);
    expect(problems).toEqual([{ key: 'ns/g', why: '192.0.2.2: held by ns/mine too, which keeps it (this Service has another loadBalancerClass)' }]);
    expect(a.assignmentOf('ns/mine')?.ips).toEqual(['192.0.2.2']);
    a.setConfig(cfg);
    expect(decide('ns/new', svc('new'), a)).toMatchObject({ assignment: { ips: ['192.0.2.0'] } });
    expect(decide('ns/new2', svc('new2'), a)).toMatchObject({ assignment: { ips: ['192.0.2.3'] } });
    expect(decide('ns/new3', svc('new3'), a)).toMatchObject({ kind: 'failed' });
    // Foreign holds are not ours to keep: no config change is refused for them.
    expect(a.checkConfig(config(pool('elsewhere', ['198.51.100.0/24']))).map((c) => c.key)).toEqual(['ns/mine', 'ns/new', 'ns/new2']);
  });
});

describe('restoreFromStatuses', () => {
  it('records held addresses before any allocation; the oldest claimant wins a conflict', () => {
    const a = new Allocator(cfg);
    const problems = restoreFromStatuses(a, [
      svc('young', { ips: ['192.0.2.1'], created: '2024-01-02T00:00:00Z' }),
      svc('old', { ips: ['192.0.2.1'], created: '2024-01-01T00:00:00Z' }),
      svc('dual', { ips: ['2001:db8::3', '192.0.2.3'], spec: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] } }),
      svc('pending'),
      svc('other-class', { ips: ['192.0.2.0'], spec: { loadBalancerClass: 'x' } }),
    ]);
    expect(problems).toHaveLength(1);
    expect(problems[0].key).toBe('ns/young');
    expect(a.assignmentOf('ns/old')?.ips).toEqual(['192.0.2.1']);
    expect(a.assignmentOf('ns/dual')?.ips).toEqual(['2001:db8::3', '192.0.2.3']);
    // The next allocation skips every restored address, and the one another class's Service holds.
    expect(decide('ns/new', svc('new'), a)).toMatchObject({ assignment: { ips: ['192.0.2.2'] } });
    expect(decide('ns/new2', svc('new2'), a)).toMatchObject({ kind: 'failed', reason: 'no auto-assign address pool has a free ipv4 address' });
    // The loser is re-allocated (status change), the winner keeps its address.
    expect(decide('ns/old', svc('old', { ips: ['192.0.2.1'] }), a)).toMatchObject({ kind: 'assigned', changed: false });
    expect(decide('ns/young', svc('young', { ips: ['192.0.2.1'] }), a)).toMatchObject({ kind: 'failed' });
  });
});

describe('service status helpers', () => {
  it('reads canonical IPs, ignores hostnames, writes ingress in order', () => {
    const s: V1Service = { status: { loadBalancer: { ingress: [{ hostname: 'lb.example' }, { ip: '2001:DB8::0:1' }, { ip: '192.0.2.1' }] } } };
    expect(statusIps(s)).toEqual(['2001:db8::1', '192.0.2.1']);
    expect(sameIps(['a', 'b'], ['b', 'a'])).toBe(false);
    expect(statusWithIps(s, ['192.0.2.9'])).toEqual({ loadBalancer: { ingress: [{ ip: '192.0.2.9' }] } });
    expect(statusWithIps(s, [])).toEqual({ loadBalancer: {} });
  });

  it('hands the request it built to the first decide of the same object (with its namespace labels), once', () => {
    const a = new Allocator(cfg);
    const restored = new WeakMap<V1Service, ServiceRequest>();
    const s = svc('r', { ips: ['192.0.2.1'] });
    const labels = { team: 'x' };
    expect(restoreFromStatuses(a, [s], { restored })).toEqual([]);
    const built = restored.get(s);
    expect(built).toMatchObject({ key: 'ns/r', families: ['ipv4'] });
    expect(decide('ns/r', s, a, { restored, namespaceLabels: () => labels })).toMatchObject({ kind: 'assigned', changed: false, assignment: { ips: ['192.0.2.1'] } });
    expect(built!.namespaceLabels).toBe(labels);
    expect(restored.has(s)).toBe(false);
    // A new object (an update) builds its own request.
    expect(decide('ns/r', svc('r', { ips: ['192.0.2.1'], spec: { loadBalancerIP: '192.0.2.1' } }), a, { restored })).toMatchObject({ kind: 'assigned', changed: false });
  });
});

