// Property tests: the parser only ever throws ConfigError (arbitrary text, arbitrary YAML values,
// near-valid configs), and valid generated configs survive render -> parse unchanged.
import fc from 'fast-check';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { formatIp } from '../../../config/addresses.js';
import { formatCommunity } from '../../../config/communities.js';
import {
  ConfigError,
  type AddressPool,
  type AddressRange,
  type BfdProfile,
  type BgpAdvertisement,
  type Community,
  type Config,
  type NodeSelector,
  type Peer,
} from '../../../config/model.js';
import { parseConfig, parseConfigObject } from '../../../config/parse.js';
import { renderConfig, toConfigDocument } from '../../../config/render.js';

type Gen = fc.GeneratorValue;

/** Runs `parse`; passes if it returns or throws a well-formed ConfigError, fails on anything else. */
function onlyConfigError(parse: () => unknown): void {
  try {
    parse();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw new Error(`threw a non-ConfigError: ${String(err)}`, { cause: err });
    expect(err.issues.length).toBeGreaterThan(0);
    for (const issue of err.issues) {
      expect(typeof issue.path).toBe('string');
      expect(issue.message.length).toBeGreaterThan(0);
    }
  }
}

// ---- generators of valid models ----

const uint32 = (g: Gen) => g(fc.integer, { min: 0, max: 0xffffffff });

function genCommunity(g: Gen): Community {
  if (g(fc.boolean)) return { kind: 'standard', value: uint32(g) };
  return { kind: 'large', globalAdmin: uint32(g), localData1: uint32(g), localData2: uint32(g) };
}

const V4_BASE = 0x0a000000n; // 10.0.0.0/8: config data only, never used on a network
const V6_BASE = 0x20010db8n << 96n; // 2001:db8::/32

function genAddress(g: Gen, family: 'ipv4' | 'ipv6'): string {
  return family === 'ipv4'
    ? formatIp('ipv4', 0xc0000200n + BigInt(g(fc.integer, { min: 1, max: 254 })))
    : formatIp('ipv6', V6_BASE + g(fc.bigInt, { min: 1n, max: (1n << 64n) - 1n }));
}

/** One entry inside its own slot (a /24 of 10/8, or a /48 of 2001:db8::/32), so entries never overlap. */
function genRange(g: Gen, family: 'ipv4' | 'ipv6', slot: number): AddressRange {
  const slotBits = family === 'ipv4' ? 8 : 80;
  const bits = family === 'ipv4' ? 32 : 128;
  const base = family === 'ipv4' ? V4_BASE + (BigInt(slot) << 8n) : V6_BASE + (BigInt(slot) << 80n);
  const span = 1n << BigInt(slotBits);
  if (g(fc.boolean)) {
    const hostBits = g(fc.integer, { min: 0, max: slotBits });
    const k = g(fc.bigInt, { min: 0n, max: (span >> BigInt(hostBits)) - 1n });
    const first = base + (k << BigInt(hostBits));
    const prefixLength = bits - hostBits;
    return { family, first, last: first + (1n << BigInt(hostBits)) - 1n, source: `${formatIp(family, first)}/${prefixLength}`, prefixLength };
  }
  const a = g(fc.bigInt, { min: 0n, max: span - 1n });
  const b = g(fc.bigInt, { min: a, max: span - 1n });
  return { family, first: base + a, last: base + b, source: `${formatIp(family, base + a)}-${formatIp(family, base + b)}` };
}

// Vocabularies instead of regex-driven strings: fc.stringMatching is slow, and label syntax has its own tests.
const word = fc.tuple(fc.constantFrom('a', 'rack', 'zone', 'node-role', 'a.b_c', 'X9', 'Z', 'net-speed', 'tier_1'), fc.nat(99)).map(([w, n]) =>
  n % 3 === 0 ? w : `${w}${n}`,
);
const poolSuffix = fc.option(word, { nil: '' }).map((w) => (w ? `-${w}` : ''));
const aliasName = word;
const labelName = word;
const labelKey = fc.oneof(
  labelName,
  fc.tuple(fc.constantFrom('kubernetes.io', 'example.com', 'node-role.kubernetes.io', 'a1.b2'), labelName).map(([p, n]) => `${p}/${n}`),
);
const labelValue = fc.oneof(fc.constant(''), labelName);

function genSelector(g: Gen): NodeSelector {
  const matchLabels = Object.fromEntries(g(() => fc.array(fc.tuple(labelKey, labelValue), { maxLength: 3 })));
  const matchExpressions = g(() => fc.array(fc.tuple(labelKey, fc.constantFrom('In', 'NotIn', 'Exists', 'DoesNotExist' as const)), { maxLength: 3 })).map(
    ([key, operator]) => ({
      key,
      operator,
      values: operator === 'In' || operator === 'NotIn' ? g(() => fc.array(labelValue, { minLength: 1, maxLength: 3 })) : [],
    }),
  );
  return { matchLabels, matchExpressions };
}

function genPeer(g: Gen): Peer {
  const family = g(fc.constantFrom, 'ipv4' as const, 'ipv6' as const);
  const myAsn = g(fc.integer, { min: 1, max: 0xffffffff });
  // A number (sometimes ours: iBGP) or a dynamic ASN (Herald's dynamic-asn, MetalLB's dynamicASN).
  const peerAsn: Peer['peerAsn'] = g(fc.boolean) ? myAsn : g(() => fc.oneof(fc.integer({ min: 1, max: 0xffffffff }), fc.constantFrom('internal' as const, 'external' as const)));
  const holdTime = g(fc.boolean) ? 0 : g(fc.integer, { min: 3, max: 200_000 });
  const keepaliveTime = holdTime === 0 ? 0 : g(fc.integer, { min: 1, max: holdTime });
  const peer: Peer = {
    myAsn,
    peerAsn,
    peerAddress: genAddress(g, family),
    peerPort: g(fc.integer, { min: 1, max: 65535 }),
    holdTime,
    keepaliveTime,
    nodeSelectors: g(() => fc.array(fc.gen().map(genSelector), { maxLength: 3 })),
    ebgpMultihop: myAsn !== peerAsn && peerAsn !== 'internal' && g(fc.boolean),
  };
  if (g(fc.boolean)) peer.sourceAddress = genAddress(g, family);
  if (g(fc.boolean)) peer.routerId = formatIp('ipv4', BigInt(g(fc.integer, { min: 1, max: 0xffffffff })));
  if (g(fc.boolean)) peer.password = g(fc.string, { minLength: 1, maxLength: 80, unit: 'grapheme-ascii' });
  return peer;
}

function genBfdProfile(g: Gen): BfdProfile {
  const interval = () => g(fc.integer, { min: 10, max: 60000 });
  return {
    name: g(() => word),
    receiveInterval: interval(),
    transmitInterval: interval(),
    detectMultiplier: g(fc.integer, { min: 2, max: 255 }),
    echoInterval: interval(),
    echoMode: g(fc.boolean),
    passiveMode: g(fc.boolean),
    minimumTtl: g(fc.integer, { min: 1, max: 254 }),
  };
}

function genAdvertisement(g: Gen, minV4: number, minV6: number): BgpAdvertisement {
  const adv: BgpAdvertisement = {
    aggregationLength: g(fc.integer, { min: minV4, max: 32 }),
    aggregationLengthV6: g(fc.integer, { min: minV6, max: 128 }),
    communities: g(() => fc.uniqueArray(fc.gen().map(genCommunity), { maxLength: 4, selector: formatCommunity })),
  };
  if (g(fc.boolean)) adv.localPref = uint32(g);
  return adv;
}

function genConfig(g: Gen): Config {
  const slots = g(() => fc.uniqueArray(fc.tuple(fc.constantFrom('ipv4' as const, 'ipv6' as const), fc.integer({ min: 0, max: 65535 })), {
    maxLength: 12,
    selector: ([f, s]) => `${f}${s}`,
  }));
  const pools: AddressPool[] = [];
  let i = 0;
  while (i < slots.length) {
    const count = g(fc.integer, { min: 1, max: slots.length - i });
    const addresses = slots.slice(i, i + count).map(([family, slot]) => genRange(g, family, slot));
    i += count;
    const protocol = g(fc.constantFrom, 'layer2' as const, 'bgp' as const);
    // MetalLB's aggregation rule: at least each CIDR's prefix length; ranges are kept at /32 and /128.
    const need = (family: string, bits: number) =>
      Math.max(0, ...addresses.filter((a) => a.family === family).map((a) => a.prefixLength ?? bits));
    pools.push({
      name: `pool-${pools.length}${g(() => poolSuffix)}`,
      protocol,
      addresses,
      avoidBuggyIps: g(fc.boolean),
      autoAssign: g(fc.boolean),
      bgpAdvertisements:
        // Equal advertisements are one in the model (duplicates written alike are refused, as in MetalLB v0.12).
        protocol === 'layer2'
          ? []
          : g(() =>
              fc.uniqueArray(fc.gen().map((gg) => genAdvertisement(gg, need('ipv4', 32), need('ipv6', 128))), {
                minLength: 1,
                maxLength: 3,
                selector: (a) => JSON.stringify({ ...a, communities: a.communities.map(formatCommunity) }),
              }),
            ),
    });
  }
  const aliases = g(() => fc.uniqueArray(fc.tuple(aliasName, fc.gen().map(genCommunity)), {
    maxLength: 4,
    selector: ([k]) => k,
  }));
  // Two peers with one address and port on a node are refused (one session each), so keep them apart.
  const peers = g(() => fc.uniqueArray(fc.gen().map(genPeer), { maxLength: 4, selector: (p) => `${p.peerAddress} ${p.peerPort}` }));
  const bfdProfiles = g(() => fc.uniqueArray(fc.gen().map(genBfdProfile), { maxLength: 3, selector: (b) => b.name }));
  // A peer names an existing profile, or none.
  for (const p of peers) if (bfdProfiles.length > 0 && g(fc.boolean)) p.bfdProfile = bfdProfiles[g(fc.nat, bfdProfiles.length - 1)].name;
  return { peers, bgpCommunities: Object.fromEntries(aliases), pools, bfdProfiles };
}

/** The generated model without fast-check's bookkeeping (a clone-method symbol on generated arrays). */
function plain<T>(value: T): T {
  if (Array.isArray(value)) return value.map(plain) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)])) as T;
  }
  return value;
}

const validConfig = fc.gen().map((g) => plain(genConfig(g)));

// ---- near-valid documents: a valid one with one part broken ----

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Replaces, deletes or adds at a random place in the document (steered by `choices`). */
function mutate(doc: Json, choices: number[], junk: unknown): unknown {
  let node: Json = doc;
  for (const c of choices) {
    if (Array.isArray(node)) {
      if (node.length === 0) break;
      const i = c % node.length;
      if (c % 7 === 0) {
        node[i] = junk as Json;
        return doc;
      }
      node = node[i];
    } else if (node !== null && typeof node === 'object') {
      const keys = Object.keys(node);
      if (keys.length === 0) break;
      const k = keys[c % keys.length];
      if (c % 5 === 0) {
        delete node[k];
        return doc;
      }
      if (c % 5 === 1) {
        node[`${k}x`] = junk as Json;
        return doc;
      }
      if (c % 5 === 2) {
        node[k] = junk as Json;
        return doc;
      }
      node = node[k];
    }
  }
  return doc;
}

const junk = fc.oneof(
  fc.anything({ maxDepth: 2 }),
  fc.constantFrom('', '0', '-1', '1.5', '192.0.2.1', '2001:db8::1', '192.0.2.0/24', '90s', 'bgp', 'layer2', '1:2', 'In', true, 0, -1, 4294967296, null),
);

describe('parser properties', () => {
  it('arbitrary strings only ever give a Config or a ConfigError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 })), (text) => onlyConfigError(() => parseConfig(text))),
      { numRuns: 500 },
    );
  });

  it('YAML-looking strings only ever give a Config or a ConfigError', () => {
    const token = fc.constantFrom('peers:', 'address-pools:', '- ', '  ', '\n', 'name: a', '&a ', '*a', '<<: ', '[', ']', '{', '}', ',', ':', '"', "'", '|', '>', '!!str ', '---\n', 'kind: ConfigMap\n', 'data:\n  config: |\n    ', '192.0.2.0/24', '#');
    fc.assert(fc.property(fc.array(token, { maxLength: 60 }).map((t) => t.join('')), (text) => onlyConfigError(() => parseConfig(text))), { numRuns: 1000 });
  });

  it('arbitrary values, given directly or dumped as YAML, only ever give a Config or a ConfigError', () => {
    fc.assert(
      fc.property(fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withNullPrototype: true, withTypedArray: true, withSparseArray: true }), (value) => {
        onlyConfigError(() => parseConfigObject(value));
        let dumped: string | undefined;
        try {
          dumped = yaml.dump(value, { skipInvalid: true });
        } catch {
          // js-yaml itself cannot write some values (an invalid Date throws): there is no text to parse.
        }
        if (dumped !== undefined) onlyConfigError(() => parseConfig(dumped));
        onlyConfigError(() => parseConfigObject({ peers: [value], 'address-pools': [value], 'bgp-communities': value }));
      }),
      { numRuns: 300 },
    );
  });

  it('near-valid configs only ever give a Config or a ConfigError', () => {
    fc.assert(
      fc.property(validConfig, fc.array(fc.nat(1000), { minLength: 1, maxLength: 8 }), junk, (config, choices, j) => {
        const doc = mutate(JSON.parse(JSON.stringify(toConfigDocument(config))) as Json, choices, j);
        onlyConfigError(() => parseConfigObject(doc));
        onlyConfigError(() => parseConfig(yaml.dump(doc, { skipInvalid: true })));
      }),
      { numRuns: 100 },
    );
  });

  it('valid generated configs round-trip through renderConfig and parseConfig', () => {
    fc.assert(
      fc.property(validConfig, (config) => {
        const text = renderConfig(config);
        expect(parseConfig(text)).toEqual(config);
        const manifest = yaml.dump({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config', namespace: 'metallb-system' }, data: { config: text } });
        expect(parseConfig(manifest)).toEqual(config);
      }),
      { numRuns: 100 },
    );
  });
});
