// The one config rule: the controller and every speaker decide on a ConfigMap with
// allocator/config-verdict.ts over what the Services' statuses show they hold. These tests pin the
// rule and prove the two daemons' views of the statuses (the controller's full objects, the
// speaker's lean decoded records) feed it the same input, so they reach the same verdict.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { configHash, evaluateConfig, type ConfigMapObject } from '../../../allocator/config-verdict.js';
import { breakingHeld, checkHeld, type HeldAddresses } from '../../../allocator/config-check.js';
import { PoolSet } from '../../../allocator/pool.js';
import { heldByStatus, whyNotHandled, type ServiceObject } from '../../../allocator/service-request.js';
import { parseConfig } from '../../../config/parse.js';
import { decodeSpeakerService, heldOf } from '../../../speaker/service-decode.js';

const cm = (config: string): ConfigMapObject => ({ metadata: { name: 'config', namespace: 'herald' }, data: { config } });
const CURRENT = 'address-pools:\n- {name: l2, protocol: layer2, addresses: [192.0.2.0/24, "2001:db8::/64"]}\n- {name: b, protocol: bgp, addresses: [198.51.100.0/24]}\n';

interface Raw {
  metadata: { name: string; namespace?: string; annotations?: Record<string, unknown> };
  spec?: { type?: string; loadBalancerClass?: string };
  status?: { loadBalancer?: { ingress?: unknown } };
}

function svc(name: string, ips: unknown[], extra: { type?: string; cls?: string; pool?: unknown } = {}): Raw {
  return {
    metadata: { name, namespace: 'ns', ...(extra.pool !== undefined ? { annotations: { 'metallb.universe.tf/address-pool': extra.pool } } : {}) },
    spec: { type: extra.type ?? 'LoadBalancer', ...(extra.cls !== undefined ? { loadBalancerClass: extra.cls } : {}) },
    status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } },
  };
}

const controllerView = (objs: Raw[], lbClass?: string): HeldAddresses[] => objs.map((o) => heldByStatus(o as ServiceObject, lbClass)).filter((h) => h !== undefined);
const speakerView = (objs: Raw[], lbClass?: string): HeldAddresses[] => objs.map((o) => heldOf(decodeSpeakerService(JSON.parse(JSON.stringify(o))), lbClass)).filter((h) => h !== undefined);

describe('the shared config rule', () => {
  const services = [
    svc('l2', ['192.0.2.1']),
    svc('bgp', ['198.51.100.1']),
    svc('pair', ['192.0.2.2', '2001:db8::2']),
    svc('named', ['198.51.100.2'], { pool: ' b ' }),
    svc('other-class', ['203.0.113.1'], { cls: 'other.io/lb' }),
    svc('empty-class', ['192.0.2.3'], { cls: '' }),
    svc('cluster-ip', ['203.0.113.2'], { type: 'ClusterIP' }),
    svc('garbage', ['not-an-ip', 7]),
  ];

  it('a pool protocol change is not breaking: the speakers withdraw and re-announce (as MetalLB)', () => {
    const swapped = CURRENT.replace('protocol: layer2', 'protocol: X').replace('protocol: bgp', 'protocol: layer2').replace('protocol: X', 'protocol: bgp');
    const v = evaluateConfig(cm(swapped), controllerView(services), undefined, parseConfig(CURRENT));
    expect(v.kind).toBe('apply');
  });

  it('refuses what takes an address away, splits a pair or leaves a named pool; ignores Services not handled', () => {
    const next = 'address-pools:\n- {name: l2, protocol: layer2, addresses: [192.0.2.0/31]}\n- {name: l2v6, protocol: layer2, addresses: ["2001:db8::/64"]}\n- {name: c, protocol: bgp, addresses: [198.51.100.0/24]}\n';
    const v = evaluateConfig(cm(next), controllerView(services), undefined);
    if (v.kind !== 'breaking') throw new Error(v.kind);
    expect(v.breaking.map((c) => [c.key, c.ips.map((i) => i.reason)])).toEqual([
      ['ns/pair', ['192.0.2.2 is in no pool of the new config']],
      ['ns/named', ['the Service asks for pool "b", which the new config does not have']],
      ['ns/empty-class', ['192.0.2.3 is in no pool of the new config']],
    ]);
    const split = next.replace('192.0.2.0/31', '192.0.2.0/24');
    const w = evaluateConfig(cm(split), controllerView(services), undefined);
    expect(w.kind === 'breaking' && w.breaking.map((c) => [c.key, c.ips.length, c.ips[0].reason])).toEqual([
      ['ns/pair', 2, expect.stringContaining('would be split')],
      ['ns/named', 1, expect.stringContaining('asks for pool "b"')],
    ]);
  });

  it('the speaker (lean decoded records) and the controller (full objects) read the same held addresses, so reach the same verdict', () => {
    for (const lbClass of [undefined, 'other.io/lb']) {
      expect(speakerView(services, lbClass)).toEqual(controllerView(services, lbClass));
    }
    expect(controllerView(services).map((h) => h.key)).toEqual(['ns/l2', 'ns/bgp', 'ns/pair', 'ns/named', 'ns/empty-class', 'ns/garbage']);
    expect(controllerView(services, 'other.io/lb').map((h) => h.key)).toEqual(['ns/other-class']);
    expect(whyNotHandled('LoadBalancer', '', undefined)).toBeUndefined();
  });

  it('property: for any Services and any next config, both views give the same verdict', () => {
    const ip = fc.oneof(
      fc.integer({ min: 0, max: 255 }).map((n) => `192.0.2.${n}`),
      fc.integer({ min: 0, max: 255 }).map((n) => `198.51.100.${n}`),
      fc.integer({ min: 0, max: 255 }).map((n) => `2001:db8::${n.toString(16)}`),
      fc.constantFrom('garbage', '203.0.113.5'),
    );
    const raw = fc.record({
      ips: fc.array(ip, { maxLength: 2 }),
      type: fc.constantFrom('LoadBalancer', 'LoadBalancer', 'ClusterIP', undefined),
      cls: fc.constantFrom(undefined, '', 'other.io/lb'),
      pool: fc.constantFrom(undefined, 'l2', 'b', 'gone', '', 5),
    });
    const cut = fc.record({ v4: fc.integer({ min: 24, max: 32 }), dropBgp: fc.boolean(), splitV6: fc.boolean() });
    fc.assert(
      fc.property(fc.array(raw, { maxLength: 8 }), cut, (raws, c) => {
        const objs = raws.map((r, i) => svc(`s${i}`, r.ips, { type: r.type, cls: r.cls, pool: r.pool }));
        const next =
          `address-pools:\n- {name: l2, protocol: layer2, addresses: [192.0.2.0/${c.v4}${c.splitV6 ? '' : ', "2001:db8::/64"'}]}\n` +
          (c.splitV6 ? '- {name: v6, protocol: layer2, addresses: ["2001:db8::/64"]}\n' : '') +
          (c.dropBgp ? '' : '- {name: b, protocol: bgp, addresses: [198.51.100.0/24]}\n');
        const a = evaluateConfig(cm(next), controllerView(objs), undefined);
        const b = evaluateConfig(cm(next), speakerView(objs), undefined);
        expect(b).toEqual(a);
      }),
      { numRuns: 300 },
    );
  });

  it('property: breakingHeld (what a verdict reads, without the reasons of what stays) is checkHeld cut to the breaking', () => {
    const ip = fc.oneof(
      fc.integer({ min: 0, max: 255 }).map((n) => `192.0.2.${n}`),
      fc.integer({ min: 0, max: 255 }).map((n) => `198.51.100.${n}`),
      fc.integer({ min: 0, max: 255 }).map((n) => `2001:db8::${n.toString(16)}`),
      fc.constantFrom('garbage', '203.0.113.5', '2001:0db8::0001'),
    );
    const held = fc.record({ ips: fc.array(ip, { maxLength: 3 }), pool: fc.constantFrom(undefined, 'l2', 'b', 'v6', 'gone') });
    const cut = fc.record({ v4: fc.integer({ min: 24, max: 32 }), dropBgp: fc.boolean(), splitV6: fc.boolean(), buggy: fc.boolean() });
    const config = (c: { v4: number; dropBgp: boolean; splitV6: boolean; buggy: boolean }): PoolSet =>
      new PoolSet(
        parseConfig(
          `address-pools:\n- {name: l2, protocol: layer2, avoid-buggy-ips: ${c.buggy}, addresses: [192.0.2.0/${c.v4}${c.splitV6 ? '' : ', "2001:db8::/64"'}]}\n` +
            (c.splitV6 ? '- {name: v6, protocol: layer2, addresses: ["2001:db8::/64"]}\n' : '') +
            (c.dropBgp ? '' : '- {name: b, protocol: bgp, addresses: [198.51.100.0/24]}\n'),
        ),
      );
    fc.assert(
      fc.property(fc.array(held, { maxLength: 8 }), cut, fc.option(cut, { nil: undefined }), (hs, n, c) => {
        const input: HeldAddresses[] = hs.map((h, i) => ({ key: `ns/s${i}`, ips: h.ips, ...(h.pool !== undefined ? { pool: h.pool } : {}) }));
        const current = c && config(c);
        const next = config(n);
        const full = checkHeld(input, current, next)
          .filter((x) => x.breaking)
          .map((x) => ({ ...x, ips: x.ips.filter((i) => i.breaking) }));
        expect(breakingHeld(input, current, next)).toEqual(full);
      }),
      { numRuns: 500 },
    );
  });

  it('configHash names the config, not its spelling: the same after reformatting, different after a change', () => {
    const reformatted = `# a comment\naddress-pools:\n- name: l2\n  protocol: layer2\n  auto-assign: true\n  addresses:\n  - 192.0.2.0/24\n  - "2001:db8::/64"\n- {name: b, protocol: bgp, addresses: [198.51.100.0/24]}\n`;
    const h = configHash(parseConfig(CURRENT));
    expect(h).toMatch(/^[0-9a-f]{12}$/);
    expect(configHash(parseConfig(reformatted))).toBe(h);
    expect(configHash(parseConfig(CURRENT.replace('198.51.100.0/24', '198.51.100.0/25')))).not.toBe(h);
    const v = evaluateConfig(cm(CURRENT), [], undefined);
    expect(v.kind === 'apply' && v.hash).toBe(h);
  });
});
