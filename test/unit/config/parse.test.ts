// Schema rules and defaults of parseConfig / parseConfigObject beyond the fixture table.
import { describe, expect, it } from 'vitest';
import { issuesOf } from './config-issues.js';
import { ConfigError, type Config } from '../../../config/model.js';
import { parseConfig, parseConfigObject } from '../../../config/parse.js';
import { renderConfig } from '../../../config/render.js';

const peer = { 'my-asn': 64500, 'peer-asn': 64501, 'peer-address': '192.0.2.1' };
const pool = { name: 'p', protocol: 'layer2', addresses: ['198.51.100.0/24'] };

describe('defaults', () => {
  it('an empty or null document is an empty config', () => {
    const empty: Config = { peers: [], bgpCommunities: {}, pools: [], bfdProfiles: [] };
    expect(parseConfig('')).toEqual(empty);
    expect(parseConfig('# nothing\n')).toEqual(empty);
    expect(parseConfig('{}')).toEqual(empty);
    expect(parseConfigObject(null)).toEqual(empty);
    expect(parseConfigObject(undefined)).toEqual(empty);
  });

  it('peer: port 179, hold 90s, keepalive hold/3, no selectors, no multihop', () => {
    expect(parseConfigObject({ peers: [peer] }).peers[0]).toEqual({
      myAsn: 64500,
      peerAsn: 64501,
      peerAddress: '192.0.2.1',
      peerPort: 179,
      holdTime: 90,
      keepaliveTime: 30,
      nodeSelectors: [],
      ebgpMultihop: false,
    });
  });

  it('keepalive defaults to a third of the hold time, truncated to seconds', () => {
    expect(parseConfigObject({ peers: [{ ...peer, 'hold-time': '10s' }] }).peers[0].keepaliveTime).toBe(3);
    expect(parseConfigObject({ peers: [{ ...peer, 'hold-time': '0' }] }).peers[0]).toMatchObject({ holdTime: 0, keepaliveTime: 0 });
  });

  it('a bare 0 is a duration (Go accepts unitless "0"); other bare numbers are not', () => {
    expect(parseConfigObject({ peers: [{ ...peer, 'hold-time': 0 }] }).peers[0]).toMatchObject({ holdTime: 0, keepaliveTime: 0 });
    expect(parseConfig('peers:\n- {my-asn: 1, peer-asn: 2, peer-address: 192.0.2.1, hold-time: 0}\n').peers[0].holdTime).toBe(0);
    expect(issuesOf(() => parseConfigObject({ peers: [{ ...peer, 'hold-time': 0, 'keepalive-time': 3 }] }))).toEqual([
      'peers[0].keepalive-time: expected a duration string like "90s" or "3m", got an integer (3); a bare number has no unit',
    ]);
  });

  it('durations are truncated to whole seconds (as MetalLB does)', () => {
    const p = parseConfigObject({ peers: [{ ...peer, 'hold-time': '3.9s', 'keepalive-time': '1500ms' }] }).peers[0];
    expect(p).toMatchObject({ holdTime: 3, keepaliveTime: 1 });
    expect(parseConfigObject({ peers: [{ ...peer, 'hold-time': '1.5m' }] }).peers[0].holdTime).toBe(90);
  });

  it('pool: avoid-buggy-ips false, auto-assign true; layer2 has no advertisements, bgp gets the default one', () => {
    const config = parseConfigObject({ 'address-pools': [pool, { ...pool, name: 'q', protocol: 'bgp', addresses: ['203.0.113.0/24'] }] });
    expect(config.pools[0]).toMatchObject({ avoidBuggyIps: false, autoAssign: true, bgpAdvertisements: [] });
    expect(config.pools[1].bgpAdvertisements).toEqual([{ aggregationLength: 32, aggregationLengthV6: 128, communities: [] }]);
  });

  it('bgp pool with an empty advertisement list gets the default; an empty advertisement gets default lengths', () => {
    const config = parseConfigObject({
      'address-pools': [
        { ...pool, protocol: 'bgp', 'bgp-advertisements': [] },
        { ...pool, name: 'q', protocol: 'bgp', addresses: ['203.0.113.0/24'], 'bgp-advertisements': [{}] },
      ],
    });
    expect(config.pools[0].bgpAdvertisements).toEqual([{ aggregationLength: 32, aggregationLengthV6: 128, communities: [] }]);
    expect(config.pools[1].bgpAdvertisements).toEqual([{ aggregationLength: 32, aggregationLengthV6: 128, communities: [] }]);
  });
});

describe('values', () => {
  it('peer addresses are stored in canonical form', () => {
    const p = parseConfigObject({ peers: [{ ...peer, 'peer-address': '2001:DB8:0::1', 'source-address': '2001:db8:0:0::2' }] }).peers[0];
    expect(p).toMatchObject({ peerAddress: '2001:db8::1', sourceAddress: '2001:db8::2' });
  });

  it('communities resolve aliases and literals, both kinds, duplicates once', () => {
    const config = parseConfigObject({
      'bgp-communities': { 'no-export': '65535:65281', big: '1:2:3' },
      'address-pools': [
        { ...pool, protocol: 'bgp', 'bgp-advertisements': [{ communities: ['no-export', '65535:65281', 'big', '64500:1', 'large:4:5:6'], localpref: 150 }] },
      ],
    });
    expect(config.bgpCommunities).toEqual({ 'no-export': { kind: 'standard', value: 0xffffff01 }, big: { kind: 'large', globalAdmin: 1, localData1: 2, localData2: 3 } });
    expect(config.pools[0].bgpAdvertisements[0]).toEqual({
      aggregationLength: 32,
      aggregationLengthV6: 128,
      localPref: 150,
      communities: [
        { kind: 'standard', value: 0xffffff01 },
        { kind: 'large', globalAdmin: 1, localData1: 2, localData2: 3 },
        { kind: 'standard', value: 64500 * 65536 + 1 },
        { kind: 'large', globalAdmin: 4, localData1: 5, localData2: 6 },
      ],
    });
  });

  it('an alias takes precedence over a literal of the same spelling', () => {
    const config = parseConfigObject({
      'bgp-communities': { '1:2': '3:4' },
      'address-pools': [{ ...pool, protocol: 'bgp', 'bgp-advertisements': [{ communities: ['1:2'] }] }],
    });
    expect(config.pools[0].bgpAdvertisements[0].communities).toEqual([{ kind: 'standard', value: 3 * 65536 + 4 }]);
  });

  it('aggregation length equal to a CIDR prefix, or to the blocks of an aligned range, is accepted', () => {
    const config = parseConfigObject({
      'address-pools': [
        {
          ...pool,
          protocol: 'bgp',
          addresses: ['198.51.100.0/24', '203.0.113.0-203.0.113.127', '2001:db8::/64'],
          'bgp-advertisements': [{ 'aggregation-length': 25, 'aggregation-length-v6': 64 }],
        },
      ],
    });
    expect(config.pools[0].bgpAdvertisements[0]).toMatchObject({ aggregationLength: 25, aggregationLengthV6: 64 });
  });

  it('ebgp-multihop is fine on eBGP', () => {
    expect(parseConfigObject({ peers: [{ ...peer, 'ebgp-multihop': true }] }).peers[0].ebgpMultihop).toBe(true);
  });

  it('IPv6 pools are valid in both protocols', () => {
    const config = parseConfigObject({
      'address-pools': [
        { name: 'a', protocol: 'layer2', addresses: ['2001:db8:1::/64'] },
        { name: 'b', protocol: 'bgp', addresses: ['2001:db8:2::/64'] },
      ],
    });
    expect(config.pools.map((p) => p.addresses[0].family)).toEqual(['ipv6', 'ipv6']);
  });

  it('match-labels keys like __proto__ stay ordinary keys', () => {
    const doc = JSON.parse('{"peers":[{"my-asn":1,"peer-asn":2,"peer-address":"192.0.2.1","node-selectors":[{"match-labels":{"__proto__":"x"}}]}]}') as unknown;
    const result = issuesOf(() => parseConfigObject(doc));
    expect(result).toEqual([`peers[0].node-selectors[0].match-labels.__proto__: label key "__proto__" is invalid: expected [prefix/]name, name at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric`]);
  });
});

describe('errors', () => {
  it('ConfigError lists every issue, and its message has one line per issue', () => {
    const err = (() => {
      try {
        parseConfigObject({ peers: [{}], 'address-pools': [{}] });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('no error');
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.name).toBe('ConfigError');
    expect(err.issues.length).toBe(6);
    expect(err.message.split('\n')).toHaveLength(6);
    expect(err.message).toContain('peers[0].my-asn: missing required local ASN');
    expect(err.message).toContain('address-pools[0].addresses: a pool needs at least one address entry');
  });

  it('floats and strings for integers are rejected with the value shown', () => {
    expect(issuesOf(() => parseConfig('peers:\n- {my-asn: 1e3, peer-asn: 2, peer-address: 192.0.2.1}\n'))).toEqual([
      'peers[0].my-asn: expected local ASN, an integer from 1 to 4294967295, got a float (1e3)',
    ]);
    expect(issuesOf(() => parseConfigObject({ peers: [{ ...peer, 'peer-port': 179.5 }] }))).toEqual([
      'peers[0].peer-port: expected TCP port, an integer from 1 to 65535, got a float (179.5)',
    ]);
  });

  it('a bare document with apiVersion/kind that is not a ConfigMap is named', () => {
    expect(issuesOf(() => parseConfig('apiVersion: v1\nkind: Secret\n'))).toEqual([
      'kind: expected a ConfigMap (kind: ConfigMap) or a bare config document, got kind Secret',
    ]);
  });

  it('several documents without a ConfigMap, or several ConfigMaps with config, are ambiguous', () => {
    expect(issuesOf(() => parseConfig('a: 1\n---\nb: 2\n'))[0]).toContain('found 2 YAML documents and no ConfigMap');
    const cm = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}}\ndata:\n  config: "{}"\n`;
    expect(issuesOf(() => parseConfig(`${cm('a')}---\n${cm('b')}`))).toEqual([': found several ConfigMaps ("a", "b"); expected exactly one with data.config']);
  });

  it('picks the one ConfigMap with data.config among several', () => {
    const text = 'kind: ConfigMap\nmetadata: {name: other}\ndata: {x: y}\n---\nkind: ConfigMap\nmetadata: {name: config}\ndata:\n  config: |\n    address-pools: [{name: a, protocol: layer2, addresses: [192.0.2.0/24]}]\n';
    expect(parseConfig(text).pools[0].name).toBe('a');
  });

  it('data.config must be one YAML string document', () => {
    expect(issuesOf(() => parseConfig('kind: ConfigMap\ndata:\n  config: {a: 1}\n'))).toEqual([
      'data.config: expected the config as a YAML string (config: |), got a mapping',
    ]);
    expect(issuesOf(() => parseConfig('kind: ConfigMap\ndata:\n  config: "a: 1\\n---\\nb: 2\\n"\n'))).toEqual([
      'data.config: data.config holds 2 YAML documents; expected one config document',
    ]);
    expect(issuesOf(() => parseConfig('kind: ConfigMap\nmetadata: {name: config}\n'))).toEqual([
      'data: ConfigMap "config" has no data mapping; MetalLB reads its configuration from data.config',
    ]);
  });

  it('YAML-only types (timestamps, binary, sets) are not accepted', () => {
    expect(issuesOf(() => parseConfig('peers: !!binary aGVsbG8=\n'))[0]).toContain('unknown tag');
    // A date-looking scalar stays a string under the core schema, so it is a type error, not a Date.
    expect(issuesOf(() => parseConfigObject({ 'address-pools': [{ ...pool, name: 'p', addresses: [new Date(0)] }] }))[0]).toContain(
      'a config holds only mappings, lists, strings, numbers and booleans',
    );
    expect(parseConfig('address-pools:\n- {name: 2001-12-14, protocol: layer2, addresses: [192.0.2.0/24]}\n').pools[0].name).toBe('2001-12-14');
  });

  it('parseConfig rejects non-string input with a ConfigError', () => {
    expect(issuesOf(() => parseConfig(42 as unknown as string))).toEqual([': expected the config as text, got an integer (42)']);
  });
});

describe('renderConfig', () => {
  it('renders the full fixture back to an equal config', async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(new URL('../../fixtures/config/valid/full-bgp.yaml', import.meta.url), 'utf8');
    const config = parseConfig(text);
    expect(parseConfig(renderConfig(config))).toEqual(config);
  });
});
