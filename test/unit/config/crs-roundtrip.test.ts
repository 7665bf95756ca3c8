// Round trips between the two config formats (fast-check): a generated Config written as CRs compiles
// back to it, and as a ConfigMap (via CRs) parses back to it; arbitrary objects only ever give ConfigError.
import fc from 'fast-check';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { formatIp } from '../../../config/addresses.js';
import { formatCommunity } from '../../../config/communities.js';
import { compileCrs } from '../../../config/crs/compile.js';
import { toConfigMap, toCrManifests } from '../../../config/crs/emit.js';
import { parseAnyConfigWithWarnings } from '../../../config/crs/source.js';
import { type AddressPool, type AddressRange, type BfdProfile, type Community, type Config, ConfigError, type LabelSelectorRequirement, type NodeSelector, type Peer, type ServiceAllocation } from '../../../config/model.js';
import { parseConfig } from '../../../config/parse.js';

type Gen = fc.GeneratorValue;
const uint32 = (g: Gen) => g(fc.integer, { min: 0, max: 0xffffffff });

function community(g: Gen): Community {
  if (g(fc.boolean)) return { kind: 'standard', value: uint32(g) };
  return { kind: 'large', globalAdmin: uint32(g), localData1: uint32(g), localData2: uint32(g) };
}

/** Pools live in separate /24s of 203.0.113.0/24's neighbours or /64s of 2001:db8::/32: never overlapping. */
function range(g: Gen, family: 'ipv4' | 'ipv6', slot: number): AddressRange {
  if (family === 'ipv4') {
    const base = 0xc6336400n + (BigInt(slot) << 8n); // 198.51.100.0 + slot*256 (config data only)
    if (g(fc.boolean)) return { family, first: base, last: base + 255n, source: `${formatIp(family, base)}/24`, prefixLength: 24 };
    const a = BigInt(g(fc.integer, { min: 0, max: 255 }));
    const b = BigInt(g(fc.integer, { min: Number(a), max: 255 }));
    return { family, first: base + a, last: base + b, source: `${formatIp(family, base + a)}-${formatIp(family, base + b)}` };
  }
  const base = (0x20010db8n << 96n) + (BigInt(slot) << 64n);
  return { family, first: base, last: base + (1n << 64n) - 1n, source: `${formatIp(family, base)}/64`, prefixLength: 64 };
}

function peer(g: Gen, i: number, profiles: readonly BfdProfile[]): Peer {
  const myAsn = g(fc.integer, { min: 1, max: 0xffffffff });
  // A number (sometimes ours: iBGP) or a dynamic ASN (Herald's dynamic-asn, MetalLB's dynamicASN).
  const peerAsn: Peer['peerAsn'] = g(fc.boolean) ? myAsn : g(() => fc.oneof(fc.integer({ min: 1, max: 0xffffffff }), fc.constantFrom('internal' as const, 'external' as const)));
  const holdTime = g(fc.boolean) ? 0 : g(fc.integer, { min: 3, max: 100_000 });
  const p: Peer = {
    myAsn,
    peerAsn,
    peerAddress: formatIp('ipv4', 0xc0000200n + BigInt(i + 1)),
    peerPort: g(fc.integer, { min: 1, max: 16384 }),
    holdTime,
    keepaliveTime: holdTime === 0 ? 0 : g(fc.integer, { min: 1, max: holdTime }),
    nodeSelectors: g(() =>
      fc.array(
        fc.record({
          matchLabels: fc.dictionary(fc.constantFrom('rack', 'zone', 'kubernetes.io/hostname'), fc.constantFrom('', 'a', 'b-1')),
          matchExpressions: fc.array(fc.record({ key: fc.constantFrom('tier', 'example.com/x'), operator: fc.constant('Exists' as const), values: fc.constant([]) }), { maxLength: 2 }),
        }),
        { maxLength: 2 },
      ),
    ),
    ebgpMultihop: myAsn !== peerAsn && peerAsn !== 'internal' && g(fc.boolean),
  };
  if (g(fc.boolean)) p.routerId = formatIp('ipv4', BigInt(g(fc.integer, { min: 1, max: 0xffffffff })));
  if (g(fc.boolean)) p.sourceAddress = formatIp('ipv4', 0xcb007100n + BigInt(g(fc.integer, { min: 1, max: 254 })));
  if (g(fc.boolean)) p.password = g(fc.string, { minLength: 1, maxLength: 40, unit: 'grapheme-ascii' });
  if (profiles.length > 0 && g(fc.boolean)) p.bfdProfile = g(fc.constantFrom, ...profiles.map((b) => b.name));
  if (g(fc.boolean)) p.connectTime = g(fc.integer, { min: 1, max: 65535 });
  if (g(fc.boolean)) p.enableGracefulRestart = true;
  if (g(fc.boolean)) p.disableMp = true;
  return p;
}

function bfdProfile(g: Gen, name: string): BfdProfile {
  const ms = () => g(fc.integer, { min: 10, max: 60000 });
  return {
    name,
    receiveInterval: ms(),
    transmitInterval: ms(),
    detectMultiplier: g(fc.integer, { min: 2, max: 255 }),
    echoInterval: ms(),
    echoMode: g(fc.boolean),
    passiveMode: g(fc.boolean),
    minimumTtl: g(fc.integer, { min: 1, max: 254 }),
  };
}

function selectors(g: Gen, keys: string[]): NodeSelector[] {
  return g(() =>
    fc.array(
      fc.record({
        matchLabels: fc.dictionary(fc.constantFrom(...keys), fc.constantFrom('', 'a', 'b-1')),
        matchExpressions: fc.array(fc.record({ key: fc.constantFrom(...keys), operator: fc.constantFrom('In' as const, 'NotIn' as const), values: fc.uniqueArray(fc.constantFrom('x', 'y.z'), { minLength: 1, maxLength: 2 }) }), { maxLength: 2 }),
      }),
      { maxLength: 2 },
    ),
  );
}

function serviceAllocation(g: Gen): ServiceAllocation {
  const sa: ServiceAllocation = {
    namespaces: g(() => fc.uniqueArray(fc.constantFrom('default', 'web', 'team-a'), { maxLength: 3 })),
    namespaceSelectors: selectors(g, ['team', 'kubernetes.io/metadata.name']),
    serviceSelectors: selectors(g, ['app', 'example.com/tier']),
  };
  if (g(fc.boolean)) sa.priority = g(fc.integer, { min: 1, max: 2147483647 });
  return sa;
}

const selectorArb: fc.Arbitrary<NodeSelector> = fc.record({
  matchLabels: fc.dictionary(fc.constantFrom('rack', 'kubernetes.io/hostname'), fc.constantFrom('a', 'b-1'), { minKeys: 1 }),
  matchExpressions: fc.constant([]).map((): LabelSelectorRequirement[] => []),
});

/** MetalLB's scoping (CRs only): L2Advertisement nodeSelectors/interfaces, BGPAdvertisement nodeSelectors/peers, unannounced pools. */
function scope(g: Gen, pool: AddressPool, peers: Peer[]): void {
  if (pool.protocol === 'layer2') {
    const kind = g(fc.constantFrom, 'open' as const, 'none' as const, 'scoped' as const);
    if (kind === 'none') pool.l2Advertisements = [];
    if (kind === 'scoped') {
      pool.l2Advertisements = g(() =>
        fc.uniqueArray(
          fc.record({ nodeSelectors: fc.array(selectorArb, { minLength: 1, maxLength: 2 }), interfaces: fc.uniqueArray(fc.constantFrom('eth0', 'eth1', 'bond0'), { maxLength: 2 }) }),
          { minLength: 1, maxLength: 2, selector: (a) => JSON.stringify(a) },
        ),
      );
    }
    return;
  }
  for (const ad of pool.bgpAdvertisements) {
    if (g(fc.boolean)) ad.nodeSelectors = g(() => fc.array(selectorArb, { minLength: 1, maxLength: 2 }));
    if (peers.length > 0 && g(fc.boolean)) {
      const named = g(() => fc.subarray(peers, { minLength: 1 }));
      for (const p of named) p.name = `peer-${peers.indexOf(p) + 1}`;
      ad.peers = named.map((p) => p.name!);
    }
  }
}

function genConfig(g: Gen, scoped = false): Config {
  const pools: AddressPool[] = [];
  const count = g(fc.integer, { min: 0, max: 4 });
  for (let i = 0; i < count; i++) {
    const addresses = [range(g, 'ipv4', i), ...(g(fc.boolean) ? [range(g, 'ipv6', i)] : [])];
    const protocol = g(fc.constantFrom, 'layer2' as const, 'bgp' as const);
    const v6 = addresses.some((a) => a.family === 'ipv6') ? 64 : 0;
    pools.push({
      name: `pool-${i}${g(fc.constantFrom, '', '.edge', '-x')}`,
      protocol,
      addresses,
      avoidBuggyIps: g(fc.boolean),
      autoAssign: g(fc.boolean),
      ...(g(fc.boolean) ? { serviceAllocation: serviceAllocation(g) } : {}),
      bgpAdvertisements:
        protocol === 'layer2'
          ? []
          : g(() =>
              fc.uniqueArray(
                fc.gen().map((gg) => {
                  const a = {
                    aggregationLength: gg(fc.integer, { min: addresses[0].prefixLength ?? 32, max: 32 }),
                    aggregationLengthV6: gg(fc.integer, { min: Math.max(v6, 0), max: 128 }),
                    communities: gg(() => fc.uniqueArray(fc.gen().map(community), { maxLength: 3, selector: formatCommunity })),
                  };
                  return gg(fc.boolean) ? { ...a, localPref: uint32(gg) } : a;
                }),
                { minLength: 1, maxLength: 3, selector: (a) => JSON.stringify({ ...a, communities: a.communities.map(formatCommunity) }) },
              ),
            ),
    });
  }
  const aliases = g(() => fc.uniqueArray(fc.tuple(fc.constantFrom('no-adv', 'core', 'X_1', 'edge.a'), fc.gen().map(community)), { maxLength: 3, selector: ([k]) => k }));
  const bfdProfiles = g(() => fc.uniqueArray(fc.constantFrom('fast', 'slow', 'bfd.edge'), { maxLength: 2 })).map((name) => bfdProfile(g, name));
  const peers = Array.from({ length: g(fc.integer, { min: 0, max: 3 }) }, (_, i) => peer(g, i, bfdProfiles));
  if (scoped) for (const p of pools) scope(g, p, peers);
  return { peers, bgpCommunities: Object.fromEntries(aliases), pools, bfdProfiles };
}

function plain<T>(value: T): T {
  if (Array.isArray(value)) return value.map(plain) as T;
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)])) as T;
  return value;
}

const validConfig = fc.gen().map((g) => plain(genConfig(g)));
const scopedConfig = fc.gen().map((g) => plain(genConfig(g, true)));

describe('ConfigMap <-> CRs round trips', () => {
  it('Config -> CRs (through YAML) -> compile gives the same Config', () => {
    fc.assert(
      fc.property(validConfig, (config) => {
        const text = toCrManifests(config, 'metallb-system').map((o) => `---\n${yaml.dump(o)}`).join('');
        expect(compileCrs(yaml.loadAll(text))).toEqual(config);
      }),
      { numRuns: 100 },
    );
  });

  it('with MetalLB scoping (nodes, interfaces, peers, unannounced pools): Config -> CRs -> compile gives the same Config', () => {
    fc.assert(
      fc.property(scopedConfig, (config) => {
        const text = toCrManifests(config, 'metallb-system').map((o) => `---\n${yaml.dump(o)}`).join('');
        expect(compileCrs(yaml.loadAll(text))).toEqual(config);
      }),
      { numRuns: 100 },
    );
  });

  it('CRs -> ConfigMap parses to the Config the CRs compile to', () => {
    fc.assert(
      fc.property(validConfig, (config) => {
        const compiled = compileCrs(toCrManifests(config, 'metallb-system'));
        const cm = yaml.dump(toConfigMap(compiled, 'config', 'metallb-system'));
        expect(parseConfig(cm)).toEqual(config);
        expect(parseAnyConfigWithWarnings(cm).kind).toBe('configmap');
      }),
      { numRuns: 100 },
    );
  });

  it('arbitrary objects (and near-valid CRs) only ever give a ConfigError', () => {
    const kinds = fc.constantFrom('IPAddressPool', 'L2Advertisement', 'BGPAdvertisement', 'BGPPeer', 'Community', 'BFDProfile', 'Secret', 'Other');
    const doc = fc.record({
      apiVersion: fc.constantFrom('metallb.io/v1beta1', 'metallb.io/v1beta2', 'v1', 'x/y'),
      kind: kinds,
      metadata: fc.oneof(fc.record({ name: fc.string(), namespace: fc.string() }), fc.anything()),
      spec: fc.oneof(fc.anything(), fc.dictionary(fc.constantFrom('addresses', 'myASN', 'peerAddress', 'ipAddressPools', 'communities', 'passwordSecret', 'holdTime', 'nodeSelectors'), fc.anything())),
    });
    fc.assert(
      fc.property(fc.array(fc.oneof(doc, fc.anything()), { maxLength: 6 }), (docs) => {
        try {
          compileCrs(docs);
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
          expect(e.issues.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 300 },
    );
  });
});
