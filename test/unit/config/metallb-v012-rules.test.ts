// The MetalLB v0.12 rules Herald once differed on (issue 12): duplicate and colliding peers, null list
// entries meaning defaults, aggregation-length on ranges (v0.12's widest-block rule, plus a warning
// naming what an aggregate covers outside the pool), duplicate advertisements and communities.
import { describe, expect, it } from 'vitest';
import { issuesOf } from './config-issues.js';
import { parseConfig, parseConfigObject, parseConfigObjectWithWarnings, parseConfigWithWarnings } from '../../../config/parse.js';
import { renderConfig } from '../../../config/render.js';
import { MAX_PEERS_PER_SESSION } from '../../../config/peer-conflicts.js';
import { matchesNode, selectorsCanShareNode } from '../../../config/selectors.js';
import type { NodeSelector } from '../../../config/model.js';

const peer = { 'my-asn': 64500, 'peer-asn': 64501, 'peer-address': '192.0.2.1' };
const bgpPool = (addresses: string[], advertisements?: unknown[]) => ({
  name: 'p',
  protocol: 'bgp',
  addresses,
  ...(advertisements ? { 'bgp-advertisements': advertisements } : {}),
});
const labels = (l: Record<string, string>): NodeSelector => ({ matchLabels: l, matchExpressions: [] });
const expr = (key: string, operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist', values: string[] = []): NodeSelector => ({
  matchLabels: {},
  matchExpressions: [{ key, operator, values }],
});

describe('peers one node would open the same session for', () => {
  it('identical peers are refused naming both entries (MetalLB: peer #2 already exists)', () => {
    expect(issuesOf(() => parseConfigObject({ peers: [peer, { ...peer }] }))).toEqual([
      'peers[1]: peer 192.0.2.1 port 179 is identical to peers[0]; remove one',
    ]);
  });

  it('identical after defaults and canonical forms, whatever the label order', () => {
    const sel = (xFirst: boolean) => [{ 'match-labels': xFirst ? { x: '1', y: '2' } : { y: '2', x: '1' }, 'match-expressions': [] }];
    expect(
      issuesOf(() =>
        parseConfigObject({
          peers: [
            { ...peer, 'node-selectors': sel(true) },
            { ...peer, 'peer-address': '192.0.2.1', 'peer-port': 179, 'hold-time': '1m30s', 'node-selectors': sel(false) },
          ],
        }),
      ),
    ).toEqual(['peers[1]: peer 192.0.2.1 port 179 is identical to peers[0]; remove one']);
  });

  it('the same address and port with other settings, on nodes both select, is refused naming both', () => {
    const result = issuesOf(() => parseConfigObject({ peers: [peer, { ...peer, 'hold-time': '30s' }] }));
    expect(result).toHaveLength(1);
    expect(result[0]).toMatch(/^peers\[1\]: peer 192\.0\.2\.1 port 179 is also configured at peers\[0\], and a node can match the node-selectors of both/);
    const overlapping = issuesOf(() =>
      parseConfigObject({
        peers: [
          { ...peer, 'node-selectors': [{ 'match-labels': { rack: 'a' } }] },
          { ...peer, 'my-asn': 64502, 'node-selectors': [{ 'match-expressions': [{ key: 'rack', operator: 'Exists' }] }] },
        ],
      }),
    );
    expect(overlapping[0]).toContain('peers[1]: peer 192.0.2.1 port 179 is also configured at peers[0]');
  });

  it('the same address and port for disjoint sets of nodes, or another port, is fine', () => {
    const config = parseConfigObject({
      peers: [
        { ...peer, 'my-asn': 64510, 'node-selectors': [{ 'match-labels': { rack: 'a' } }] },
        { ...peer, 'my-asn': 64511, 'node-selectors': [{ 'match-labels': { rack: 'b' } }] },
        { ...peer, 'peer-port': 1179 },
      ],
    });
    expect(config.peers.map((p) => [p.myAsn, p.peerPort])).toEqual([
      [64510, 179],
      [64511, 179],
      [64500, 1179],
    ]);
  });

  it('more than MAX_PEERS_PER_SESSION peers to one address and port is an error (pairwise comparison stays bounded)', () => {
    const peers = Array.from({ length: MAX_PEERS_PER_SESSION + 2 }, (_, i) => ({ ...peer, 'node-selectors': [{ 'match-labels': { 'kubernetes.io/hostname': `node-${i}` } }] }));
    expect(issuesOf(() => parseConfigObject({ peers }))).toEqual([`peers[${MAX_PEERS_PER_SESSION}]: more than ${MAX_PEERS_PER_SESSION} peers with address 192.0.2.1 and port 179`]);
  });

  it('selectorsCanShareNode decides from the selectors alone', () => {
    expect(selectorsCanShareNode([], [])).toBe(true);
    expect(selectorsCanShareNode([], [labels({ rack: 'a' })])).toBe(true);
    expect(selectorsCanShareNode([labels({ rack: 'a' })], [labels({ rack: 'b' })])).toBe(false);
    expect(selectorsCanShareNode([labels({ rack: 'a' })], [labels({ zone: 'z' })])).toBe(true);
    expect(selectorsCanShareNode([labels({ rack: 'a' })], [expr('rack', 'DoesNotExist')])).toBe(false);
    expect(selectorsCanShareNode([expr('rack', 'NotIn', ['a'])], [expr('rack', 'DoesNotExist')])).toBe(true);
    expect(selectorsCanShareNode([expr('rack', 'In', ['a', 'b'])], [expr('rack', 'NotIn', ['a', 'b'])])).toBe(false);
    expect(selectorsCanShareNode([expr('rack', 'In', ['a', 'b'])], [expr('rack', 'In', ['b', 'c'])])).toBe(true);
    expect(selectorsCanShareNode([expr('rack', 'Exists')], [expr('rack', 'NotIn', ['a'])])).toBe(true);
    // OR'd selectors: one compatible pair is enough.
    expect(selectorsCanShareNode([labels({ rack: 'a' }), labels({ rack: 'c' })], [labels({ rack: 'b' }), labels({ rack: 'c' })])).toBe(true);
    // A selector no node satisfies (Exists and DoesNotExist on one key) shares nothing, even with every node.
    const never: NodeSelector = { matchLabels: {}, matchExpressions: [{ key: 'k', operator: 'Exists', values: [] }, { key: 'k', operator: 'DoesNotExist', values: [] }] };
    expect(selectorsCanShareNode([never], [])).toBe(false);
    expect(selectorsCanShareNode([{ matchLabels: { k: 'a' }, matchExpressions: [{ key: 'k', operator: 'NotIn', values: ['a'] }] }], [])).toBe(false);
  });
});

describe('null list entries', () => {
  it('a bare `-` in bgp-advertisements is one advertisement with defaults (MetalLB case 26)', () => {
    const config = parseConfig('address-pools:\n- name: p\n  protocol: bgp\n  addresses: [198.51.100.0/24]\n  bgp-advertisements:\n  -\n');
    expect(config.pools[0].bgpAdvertisements).toEqual([{ aggregationLength: 32, aggregationLengthV6: 128, communities: [] }]);
    expect(parseConfig(renderConfig(config))).toEqual(config);
  });

  it('a bare `-` in node-selectors selects every node', () => {
    const config = parseConfig('peers:\n- my-asn: 64500\n  peer-asn: 64501\n  peer-address: 192.0.2.1\n  node-selectors:\n  -\n');
    expect(config.peers[0].nodeSelectors).toEqual([{ matchLabels: {}, matchExpressions: [] }]);
    expect(matchesNode(config.peers[0].nodeSelectors, { any: 'node' })).toBe(true);
    expect(parseConfig(renderConfig(config))).toEqual(config);
  });

  it('null stays an error where MetalLB refuses it: a pool, a peer, an address, a community, a match expression', () => {
    expect(issuesOf(() => parseConfig('address-pools:\n-\n'))).toEqual(['address-pools[0]: expected an address pool (a mapping), got null']);
    expect(issuesOf(() => parseConfig('peers:\n-\n'))).toEqual(['peers[0]: expected a peer (a mapping), got null']);
    expect(issuesOf(() => parseConfigObject({ 'address-pools': [bgpPool([null as unknown as string])] }))[0]).toMatch(/^address-pools\[0\]\.addresses\[0\]: /);
    expect(issuesOf(() => parseConfigObject({ 'address-pools': [bgpPool(['198.51.100.0/24'], [{ communities: [null] }])] }))[0]).toMatch(
      /^address-pools\[0\]\.bgp-advertisements\[0\]\.communities\[0\]: /,
    );
    expect(issuesOf(() => parseConfigObject({ peers: [{ ...peer, 'node-selectors': [{ 'match-expressions': [null] }] }] }))[0]).toMatch(
      /^peers\[0\]\.node-selectors\[0\]\.match-expressions\[0\]: /,
    );
  });

  it('a null entry is still an advertisement on a layer2 pool (an error there, as in MetalLB)', () => {
    expect(issuesOf(() => parseConfigObject({ 'address-pools': [{ ...bgpPool(['198.51.100.0/24'], [null]), protocol: 'layer2' }] }))[0]).toContain(
      'a layer2 pool cannot have bgp-advertisements',
    );
  });
});

describe('aggregation-length on ranges (MetalLB v0.12: the widest block of each entry)', () => {
  const parse = (addresses: string[], adv: Record<string, unknown>) => parseConfigObjectWithWarnings({ 'address-pools': [bgpPool(addresses, [adv])] });

  it('accepts what v0.12 accepts, and warns naming the aggregates and the addresses they cover outside the pool (case 30)', () => {
    const { config, warnings } = parse(['3.3.3.2-3.3.3.254'], { 'aggregation-length': 26 });
    expect(config.pools[0].bgpAdvertisements[0].aggregationLength).toBe(26);
    expect(warnings).toEqual([
      {
        path: 'address-pools[0].bgp-advertisements[0].aggregation-length',
        message:
          'aggregation-length 26 on range 3.3.3.2-3.3.3.254 (address-pools[0].addresses[0]) announces 3.3.3.0/26 (covering 3.3.3.0-3.3.3.1 outside the pool), ' +
          '3.3.3.192/26 (covering 3.3.3.255 outside the pool); routers will send traffic for those addresses here (use a longer aggregation-length, or CIDR-aligned ranges, to avoid it)',
      },
    ]);
  });

  it('refuses an aggregate wider than the widest block (case 31), naming that block', () => {
    expect(issuesOf(() => parse(['3.3.3.2-3.3.3.254'], { 'aggregation-length': 24 }))).toEqual([
      'address-pools[0].bgp-advertisements[0].aggregation-length: aggregation-length 24 is shorter than the prefix length of 3.3.3.64/26, the widest block of the range 3.3.3.2-3.3.3.254 (address-pools[0].addresses[0]): the aggregate would announce addresses outside the pool; use at least 26',
    ]);
  });

  it('no warning when other entries of the pool cover the rest of every aggregate, nor for CIDRs', () => {
    // .0-.40 is .0/27 + .32/29 + .40/32; its aggregate .32/27 reaches .41-.63, which the second range holds.
    expect(parse(['3.3.3.0-3.3.3.40'], { 'aggregation-length': 27 }).warnings[0].message).toContain('announces 3.3.3.32/27 (covering 3.3.3.41-3.3.3.63 outside the pool)');
    expect(parse(['3.3.3.0-3.3.3.40', '3.3.3.41-3.3.3.127'], { 'aggregation-length': 27 }).warnings).toEqual([]);
    expect(parse(['3.3.3.0/24', '2001:db8::/64'], { 'aggregation-length': 24, 'aggregation-length-v6': 64 }).warnings).toEqual([]);
  });

  it('IPv6 ranges warn on aggregation-length-v6', () => {
    const { warnings } = parse(['2001:db8::1-2001:db8::fffe'], { 'aggregation-length-v6': 116 });
    expect(warnings.map((w) => w.path)).toEqual(['address-pools[0].bgp-advertisements[0].aggregation-length-v6']);
    expect(warnings[0].message).toContain(
      'aggregation-length-v6 116 on range 2001:db8::1-2001:db8::fffe (address-pools[0].addresses[0]) announces 2001:db8::/116 (covering 2001:db8:: outside the pool), 2001:db8::f000/116 (covering 2001:db8::ffff outside the pool)',
    );
  });

  it('parseConfig and parseConfigObject return the same config without the warnings', () => {
    const text = 'address-pools:\n- {name: p, protocol: bgp, addresses: [3.3.3.2-3.3.3.254], bgp-advertisements: [{aggregation-length: 26}]}\n';
    expect(parseConfig(text)).toEqual(parseConfigWithWarnings(text).config);
    expect(parseConfigWithWarnings(text).warnings).toHaveLength(1);
  });
});

describe('duplicates in bgp-advertisements (MetalLB v0.12 refuses them)', () => {
  it('two advertisements written alike are refused naming both (case 48); a bare `-` equals {}', () => {
    expect(issuesOf(() => parseConfigObject({ 'address-pools': [bgpPool(['10.20.0.0/16'], [{ 'aggregation-length': 26 }, { 'aggregation-length': 26 }])] }))).toEqual([
      'address-pools[0].bgp-advertisements[1]: duplicate advertisement: the same as address-pools[0].bgp-advertisements[0]; remove one',
    ]);
    expect(issuesOf(() => parseConfigObject({ 'address-pools': [bgpPool(['10.20.0.0/16'], [{}, null])] }))).toEqual([
      'address-pools[0].bgp-advertisements[1]: duplicate advertisement: the same as address-pools[0].bgp-advertisements[0]; remove one',
    ]);
  });

  it('written differently but equal is accepted (as v0.12 does) and kept once', () => {
    const config = parseConfigObject({ 'address-pools': [bgpPool(['10.20.0.0/16'], [{}, { 'aggregation-length': 32 }, { localpref: 5 }])] });
    expect(config.pools[0].bgpAdvertisements).toEqual([
      { aggregationLength: 32, aggregationLengthV6: 128, communities: [] },
      { aggregationLength: 32, aggregationLengthV6: 128, localPref: 5, communities: [] },
    ]);
    expect(parseConfig(renderConfig(config))).toEqual(config);
  });

  it('a community listed twice in one advertisement is refused naming both (case 49); alias and literal of one value are kept once', () => {
    expect(
      issuesOf(() => parseConfigObject({ 'bgp-communities': { bar: '64512:1234' }, 'address-pools': [bgpPool(['10.20.0.0/16'], [{ communities: ['bar', 'bar'] }])] })),
    ).toEqual([
      'address-pools[0].bgp-advertisements[0].communities[1]: community "bar" is listed twice in one advertisement (first at address-pools[0].bgp-advertisements[0].communities[0]); remove one',
    ]);
    const config = parseConfigObject({ 'bgp-communities': { bar: '64512:1234' }, 'address-pools': [bgpPool(['10.20.0.0/16'], [{ communities: ['bar', '64512:1234'] }])] });
    expect(config.pools[0].bgpAdvertisements[0].communities).toEqual([{ kind: 'standard', value: 64512 * 65536 + 1234 }]);
  });
});

describe('pools with addresses that can never be a host (never handed out)', () => {
  const doc = (addresses: string[]): string =>
    `address-pools:\n- name: p\n  protocol: layer2\n  addresses:\n${addresses.map((a) => `  - ${a}\n`).join('')}`;

  it('warns per entry, naming the addresses and what they are', () => {
    const { warnings } = parseConfigWithWarnings(doc(['0.0.0.0/0', '::/0']));
    expect(warnings.map((w) => w.path)).toEqual(['address-pools[0].addresses[0]', 'address-pools[0].addresses[1]']);
    expect(warnings[0].message).toBe(
      "contains 0.0.0.0 (the unspecified address), 127.0.0.0-127.255.255.255 (loopback (127.0.0.0/8)), 224.0.0.0-239.255.255.255 (multicast (224.0.0.0/4)), 240.0.0.0-255.255.255.254 (reserved (240.0.0.0/4)), 255.255.255.255 (the limited broadcast address): never a host's address, so never handed out to a Service",
    );
    expect(warnings[1].message).toContain(':: (the unspecified address), ::1 (loopback), ff00::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff (multicast (ff00::/8))');
    const edge = parseConfigWithWarnings(doc(['198.51.100.0/24', '126.0.0.0-127.0.0.5'])).warnings;
    expect(edge.map((w) => w.path)).toEqual(['address-pools[0].addresses[1]']);
    expect(edge[0].message).toContain('127.0.0.0-127.0.0.5 (loopback');
  });

  it('does not warn about .0/.255 (avoid-buggy-ips decides those)', () => {
    expect(parseConfigWithWarnings(doc(['192.0.2.0/24', '2001:db8::/64'])).warnings).toEqual([]);
  });
});
