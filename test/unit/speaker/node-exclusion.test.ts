// The one exclusion rule: node label -> speaker Lease label -> every speaker's eligibility view.
import { describe, expect, it } from 'vitest';
import { EXCLUDE_NODE_LABEL, LEASE_EXCLUDED_LABEL, leaseExcluded, leaseLabels, nodeExcluded } from '../../../speaker/node-exclusion.js';
import { layer2Owner, rankSpeakers } from '../../../speaker/layer2-owner.js';
import { endpointsView } from '../../../speaker/service-view.js';

describe('node exclusion from load balancing', () => {
  it('the Node label counts with any value, even empty (as MetalLB and Cilium)', () => {
    expect(nodeExcluded({ [EXCLUDE_NODE_LABEL]: '' })).toBe(true);
    expect(nodeExcluded({ [EXCLUDE_NODE_LABEL]: 'false' })).toBe(true);
    expect(nodeExcluded({ 'kubernetes.io/hostname': 'a' })).toBe(false);
    expect(nodeExcluded(undefined)).toBe(false);
  });

  it('is published on the speaker Lease and read back from it; other labels are kept', () => {
    const on = leaseLabels({ app: 'herald-speaker' }, true);
    expect(on).toEqual({ app: 'herald-speaker', [LEASE_EXCLUDED_LABEL]: 'true' });
    expect(leaseExcluded(on)).toBe(true);
    const off = leaseLabels(on, false);
    expect(off).toEqual({ app: 'herald-speaker' });
    expect(leaseExcluded(off)).toBe(false);
    expect(leaseExcluded(undefined)).toBe(false);
  });

  it('an excluded node never owns a layer2 VIP: the next of the ranking does, as every speaker computes', () => {
    const live = ['node-a', 'node-b', 'node-c'];
    const vip = '192.0.2.10';
    const [first, second] = rankSpeakers(live, vip);
    const service = { key: 'ns/web', ips: [vip], pool: 'l2', externalTrafficPolicy: 'Cluster' as const };
    const endpoints = endpointsView(new Map([['elsewhere', 1]]));
    const excluded = new Set([first]);
    expect(layer2Owner(service, endpoints, { liveSpeakers: live, nodeSelected: () => true })).toEqual({ owner: first });
    expect(layer2Owner(service, endpoints, { liveSpeakers: live, nodeSelected: (n) => !excluded.has(n) })).toEqual({ owner: second });
  });
});
