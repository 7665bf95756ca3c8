import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AddressPool, BgpAdvertisement, Community } from '../../../config/model.js';
import { bgpDecision, BgpAdvertisementError, serviceRoutes, type BgpRoute } from '../../../speaker/bgp-advertisements.js';
import { BgpRouteTable } from '../../../speaker/bgp-route-table.js';
import type { EndpointsView, ServiceView } from '../../../speaker/service-view.js';

function ad(partial: Partial<BgpAdvertisement> = {}): BgpAdvertisement {
  return { aggregationLength: 32, aggregationLengthV6: 128, communities: [], ...partial };
}

function pool(ads: BgpAdvertisement[], name = 'bgp-pool'): AddressPool {
  return { name, protocol: 'bgp', addresses: [], avoidBuggyIps: false, autoAssign: true, bgpAdvertisements: ads };
}

const std = (as: number, v: number): Community => ({ kind: 'standard', value: ((as << 16) | v) >>> 0 });
const large = (g: number, a: number, b: number): Community => ({ kind: 'large', globalAdmin: g, localData1: a, localData2: b });

describe('serviceRoutes', () => {
  it('advertises each VIP as a host route by default, v4 before v6', () => {
    const routes = serviceRoutes(['2001:db8::10', '203.0.113.10'], pool([ad()]));
    expect(routes.map((r) => r.prefix)).toEqual(['203.0.113.10/32', '2001:db8::10/128']);
    expect(routes[0]).toEqual({ prefix: '203.0.113.10/32', family: 'ipv4', address: '203.0.113.10', prefixLength: 32, communities: [], largeCommunities: [] });
  });

  it('aggregates VIPs into one route per prefix', () => {
    const routes = serviceRoutes(['203.0.113.10', '203.0.113.200', '198.51.100.1', '2001:db8:0:1::5', '2001:db8:0:1::6'], pool([ad({ aggregationLength: 24, aggregationLengthV6: 64 })]));
    expect(routes.map((r) => r.prefix)).toEqual(['198.51.100.0/24', '203.0.113.0/24', '2001:db8:0:1::/64']);
  });

  it('carries local-pref, communities and large communities, sorted and deduplicated', () => {
    const [route] = serviceRoutes(['203.0.113.10'], pool([ad({ localPref: 150, communities: [std(65000, 2), std(65000, 1), std(65000, 2), large(65000, 1, 2)] })]));
    expect(route.localPref).toBe(150);
    expect(route.communities).toEqual([(65000 << 16) | 1, (65000 << 16) | 2].map((c) => c >>> 0));
    expect(route.largeCommunities).toEqual([{ globalAdmin: 65000, localData1: 1, localData2: 2 }]);
  });

  it('keeps separate routes for advertisements of different lengths, merges equal prefixes', () => {
    const routes = serviceRoutes(
      ['203.0.113.10'],
      pool([ad({ communities: [std(1, 1)] }), ad({ aggregationLength: 24, localPref: 50 }), ad({ communities: [std(2, 2)], localPref: 100 })]),
    );
    expect(routes.map((r) => [r.prefix, r.localPref, r.communities])).toEqual([
      ['203.0.113.0/24', 50, []],
      ['203.0.113.10/32', 100, [65537, 131074]],
    ]);
  });

  it('gives no routes for a pool without bgp-advertisements (layer2)', () => {
    expect(serviceRoutes(['203.0.113.10'], { ...pool([]), protocol: 'layer2' })).toEqual([]);
  });

  it('rejects a bad VIP or aggregation length with a typed error naming the field', () => {
    expect(() => serviceRoutes(['203.0.113.10', 'nope'], pool([ad()]))).toThrow(BgpAdvertisementError);
    expect(() => serviceRoutes(['203.0.113.10', 'nope'], pool([ad()]))).toThrow(/^ips\[1\]: /);
    expect(() => serviceRoutes(['2001:db8::1'], pool([ad(), ad({ aggregationLengthV6: 129 })]))).toThrow(/bgp-advertisements\[1\]\.aggregation-length-v6/);
  });

  it('every VIP is covered by some route of each advertisement (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.ipV4(), { minLength: 1, maxLength: 20 }), fc.integer({ min: 0, max: 32 }), (ips, len) => {
        const routes = serviceRoutes(ips, pool([ad({ aggregationLength: len })]));
        expect(new Set(routes.map((r) => r.prefix)).size).toBe(routes.length);
        for (const ip of ips) {
          const n = ip.split('.').reduce((a, p) => a * 256 + Number(p), 0);
          const covering = routes.filter((r) => {
            const net = r.address.split('.').reduce((a, p) => a * 256 + Number(p), 0);
            const size = 2 ** (32 - r.prefixLength);
            return n >= net && n < net + size;
          });
          expect(covering).toHaveLength(1);
        }
      }),
    );
  });
});

describe('bgpDecision', () => {
  const svc = (policy: 'Cluster' | 'Local', ips = ['203.0.113.10']): ServiceView => ({ key: 'ns/s', ips, pool: 'p', externalTrafficPolicy: policy });
  const eps = (byNode: Record<string, number>, readyWithoutNode = 0): EndpointsView => ({ readyByNode: new Map(Object.entries(byNode)), readyWithoutNode });

  it('Cluster: advertise from every node when a ready endpoint exists anywhere', () => {
    expect(bgpDecision(svc('Cluster'), eps({ other: 1 }), 'me')).toBeNull();
    expect(bgpDecision(svc('Cluster'), eps({}, 1), 'me')).toBeNull();
    expect(bgpDecision(svc('Cluster'), eps({ other: 0 }), 'me')).toBe('noEndpoints');
  });

  it('Local: advertise only from nodes with a ready endpoint', () => {
    expect(bgpDecision(svc('Local'), eps({ me: 1 }), 'me')).toBeNull();
    expect(bgpDecision(svc('Local'), eps({ other: 1 }), 'me')).toBe('noLocalEndpoints');
    expect(bgpDecision(svc('Local'), eps({}), 'me')).toBe('noEndpoints');
  });

  it('no VIP, nothing to advertise', () => {
    expect(bgpDecision(svc('Cluster', []), eps({ me: 1 }), 'me')).toBe('noIPs');
  });
});

describe('BgpRouteTable', () => {
  const p24 = pool([ad({ aggregationLength: 24, communities: [std(65000, 1)] })]);

  it('shares an aggregate between Services: advertised once, withdrawn with the last one', () => {
    const t = new BgpRouteTable();
    const d1 = t.set('ns/a', serviceRoutes(['203.0.113.10'], p24));
    expect(d1.advertise.map((r) => r.prefix)).toEqual(['203.0.113.0/24']);
    expect(t.set('ns/b', serviceRoutes(['203.0.113.20'], p24))).toEqual({ advertise: [], withdraw: [] });
    expect(t.contributors('203.0.113.0/24').sort()).toEqual(['ns/a', 'ns/b']);
    expect(t.delete('ns/a')).toEqual({ advertise: [], withdraw: [] });
    expect(t.delete('ns/b')).toEqual({ advertise: [], withdraw: ['203.0.113.0/24'] });
    expect(t.size).toBe(0);
    expect(t.delete('ns/b')).toEqual({ advertise: [], withdraw: [] });
  });

  it('re-advertises a shared prefix when the merged attributes change', () => {
    const t = new BgpRouteTable();
    t.set('ns/a', serviceRoutes(['203.0.113.10'], p24));
    const other = pool([ad({ aggregationLength: 24, localPref: 200, communities: [large(1, 2, 3)] })]);
    const d = t.set('ns/b', serviceRoutes(['203.0.113.20'], other));
    expect(d.advertise).toEqual([
      { prefix: '203.0.113.0/24', family: 'ipv4', address: '203.0.113.0', prefixLength: 24, localPref: 200, communities: [((65000 << 16) | 1) >>> 0], largeCommunities: [{ globalAdmin: 1, localData1: 2, localData2: 3 }] },
    ]);
    const back = t.delete('ns/b');
    expect(back.advertise[0].localPref).toBeUndefined();
    expect(back.advertise[0].largeCommunities).toEqual([]);
  });

  it('replacing a Service routes gives a minimal delta', () => {
    const t = new BgpRouteTable();
    const host = pool([ad()]);
    t.set('ns/a', serviceRoutes(['203.0.113.10', '203.0.113.11'], host));
    const d = t.set('ns/a', serviceRoutes(['203.0.113.11', '203.0.113.12'], host));
    expect(d).toEqual({ advertise: [expect.objectContaining({ prefix: '203.0.113.12/32' })], withdraw: ['203.0.113.10/32'] });
  });

  it('the table equals the merge of all current Services, whatever the order of changes (property)', () => {
    const svcIps = fc.array(fc.constantFrom('203.0.113.1', '203.0.113.2', '203.0.113.130', '198.51.100.7'), { maxLength: 3 });
    const pools = [p24, pool([ad()]), pool([ad({ aggregationLength: 25, localPref: 10, communities: [std(1, 1)] }), ad({ localPref: 20 })])];
    const op = fc.record({ service: fc.constantFrom('a', 'b', 'c', 'd'), ips: svcIps, pool: fc.nat(pools.length - 1) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const t = new BgpRouteTable();
        const advertised = new Map<string, BgpRoute>();
        const current = new Map<string, BgpRoute[]>();
        for (const o of ops) {
          const routes = serviceRoutes(o.ips, pools[o.pool]);
          current.set(o.service, routes);
          const d = t.set(o.service, routes);
          for (const w of d.withdraw) {
            expect(advertised.has(w)).toBe(true);
            advertised.delete(w);
          }
          for (const r of d.advertise) advertised.set(r.prefix, r);
        }
        // Reference: merge every current Service's routes from scratch.
        const ref = new BgpRouteTable();
        for (const [svc, routes] of [...current].reverse()) ref.set(svc, routes);
        const sortByPrefix = (rs: BgpRoute[]) => [...rs].sort((x, y) => (x.prefix < y.prefix ? -1 : 1));
        expect(sortByPrefix([...advertised.values()])).toEqual(sortByPrefix(ref.routes()));
        expect(sortByPrefix(t.routes())).toEqual(sortByPrefix(ref.routes()));
      }),
    );
  });
});
