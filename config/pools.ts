// One `address-pools[]` entry: its addresses, flags and (for bgp) advertisements, with MetalLB's rules.
import { longestBlockPrefix, parseAddressEntry } from './addresses.js';
import { parseCommunity, sameCommunity } from './communities.js';
import { checkKeys, describe, expectMapping, readBoolean, readInteger, readList, readString } from './fields.js';
import { Issues, indexPath, keyPath, quote } from './issues.js';
import type { AddressPool, AddressRange, BgpAdvertisement, Community, Protocol } from './model.js';

export const POOL_KEYS = ['name', 'protocol', 'addresses', 'avoid-buggy-ips', 'auto-assign', 'bgp-advertisements'] as const;
export const ADVERTISEMENT_KEYS = ['aggregation-length', 'aggregation-length-v6', 'localpref', 'communities'] as const;

export function defaultAdvertisement(): BgpAdvertisement {
  return { aggregationLength: 32, aggregationLengthV6: 128, communities: [] };
}

/** A community given by alias (from bgp-communities) or literally. */
function resolveCommunity(text: string, aliases: ReadonlyMap<string, Community>): Community | string {
  const alias = aliases.get(text);
  if (alias) return alias;
  const parsed = parseCommunity(text);
  if (parsed.ok) return parsed.value;
  // Something that looks like a literal gets the literal's problem, not "unknown alias".
  if (/^(large:)?[0-9:]+$/.test(text)) return parsed.reason;
  return `${quote(text)} is neither an alias defined in bgp-communities nor a community literal like "64512:100" (or large "64512:1:2")`;
}

function parseAdvertisement(
  value: unknown,
  path: string,
  issues: Issues,
  aliases: ReadonlyMap<string, Community>,
): BgpAdvertisement | undefined {
  const obj = expectMapping(value, path, issues, 'a BGP advertisement');
  if (!obj) return undefined;
  checkKeys(obj, path, ADVERTISEMENT_KEYS, issues);
  const adv = defaultAdvertisement();
  adv.aggregationLength = readInteger(obj, 'aggregation-length', path, issues, { min: 0, max: 32, what: 'IPv4 aggregation prefix length' }) ?? 32;
  adv.aggregationLengthV6 =
    readInteger(obj, 'aggregation-length-v6', path, issues, { min: 0, max: 128, what: 'IPv6 aggregation prefix length' }) ?? 128;
  const localPref = readInteger(obj, 'localpref', path, issues, { min: 0, max: 4294967295, what: 'BGP LOCAL_PREF' });
  if (localPref !== undefined) adv.localPref = localPref;
  readList(obj, 'communities', path, issues, 'communities')?.forEach((c, i) => {
    const at = indexPath(keyPath(path, 'communities'), i);
    if (typeof c !== 'string') {
      issues.add(at, `expected a community alias or literal like "64512:100" (a string), got ${describe(c)}`);
      return;
    }
    const community = resolveCommunity(c, aliases);
    if (typeof community === 'string') issues.add(at, community);
    // Listing a community twice is harmless; it is announced once (MetalLB keeps a set).
    else if (!adv.communities.some((x) => sameCommunity(x, community))) adv.communities.push(community);
  });
  return adv;
}

/** MetalLB's rule: aggregating to a prefix shorter than an entry's blocks would announce addresses outside the pool. */
function checkAggregation(
  adv: BgpAdvertisement,
  advPath: string,
  addresses: { range: AddressRange; path: string }[],
  issues: Issues,
): void {
  for (const { range, path } of addresses) {
    const v6 = range.family === 'ipv6';
    const length = v6 ? adv.aggregationLengthV6 : adv.aggregationLength;
    const { prefixLength, block } = longestBlockPrefix(range);
    if (length >= prefixLength) continue;
    const key = v6 ? 'aggregation-length-v6' : 'aggregation-length';
    const what =
      range.prefixLength !== undefined
        ? `the prefix length of ${range.source} (${path})`
        : `the prefix length of ${block()}, a block of the range ${range.source} (${path})`;
    issues.add(
      keyPath(advPath, key),
      `${key} ${length} is shorter than ${what}: the aggregate would announce addresses outside the pool; use at least ${prefixLength}`,
    );
  }
}

export interface ParsedPool {
  /** The pool name when it is valid, for the uniqueness check, even if the pool has other problems. */
  name?: string;
  /** The pool, when its name and protocol are valid (other issues are in `issues`). */
  pool?: AddressPool;
  /** Each address with its path, for the overlap check. */
  addressPaths: { range: AddressRange; path: string }[];
}

export function parsePool(
  value: unknown,
  path: string,
  issues: Issues,
  aliases: ReadonlyMap<string, Community>,
): ParsedPool | undefined {
  const obj = expectMapping(value, path, issues, 'an address pool');
  if (!obj) return undefined;
  checkKeys(obj, path, POOL_KEYS, issues);

  const name = readString(obj, 'name', path, issues, { required: true, what: 'pool name' });
  if (name === '') issues.add(keyPath(path, 'name'), 'pool name is empty');

  const protocolText = readString(obj, 'protocol', path, issues, { required: true, what: 'protocol (layer2 or bgp)' });
  let protocol: Protocol | undefined;
  if (protocolText === 'layer2' || protocolText === 'bgp') protocol = protocolText;
  else if (protocolText !== undefined) {
    issues.add(keyPath(path, 'protocol'), `unknown protocol ${quote(protocolText)}: expected layer2 or bgp`);
  }

  const addressesPath = keyPath(path, 'addresses');
  const addressPaths: { range: AddressRange; path: string }[] = [];
  const list = readList(obj, 'addresses', path, issues, 'CIDRs or address ranges');
  if (list && list.length === 0) issues.add(addressesPath, 'a pool needs at least one address entry (a CIDR or a range)');
  list?.forEach((entry, i) => {
    const at = indexPath(addressesPath, i);
    if (typeof entry !== 'string') {
      issues.add(at, `expected a CIDR like "203.0.113.0/24" or a range like "203.0.113.10-203.0.113.20", got ${describe(entry)}`);
      return;
    }
    const parsed = parseAddressEntry(entry);
    if (parsed.ok) addressPaths.push({ range: parsed.value, path: at });
    else issues.add(at, parsed.reason);
  });

  const avoidBuggyIps = readBoolean(obj, 'avoid-buggy-ips', path, issues) ?? false;
  const autoAssign = readBoolean(obj, 'auto-assign', path, issues) ?? true;

  const advPath = keyPath(path, 'bgp-advertisements');
  const advList = readList(obj, 'bgp-advertisements', path, issues, 'BGP advertisements') ?? [];
  if (protocol === 'layer2' && advList.length > 0) {
    issues.add(advPath, 'a layer2 pool cannot have bgp-advertisements (layer2 announces by ARP/NDP); remove them or use protocol: bgp');
  }
  const advertisements: BgpAdvertisement[] = [];
  advList.forEach((a, i) => {
    const at = indexPath(advPath, i);
    const adv = parseAdvertisement(a, at, issues, aliases);
    if (!adv) return;
    checkAggregation(adv, at, addressPaths, issues);
    advertisements.push(adv);
  });

  if (name === undefined || name === '' || protocol === undefined) return { name, addressPaths };
  const bgpAdvertisements = protocol === 'layer2' ? [] : advertisements.length > 0 ? advertisements : [defaultAdvertisement()];
  return {
    name,
    pool: { name, protocol, addresses: addressPaths.map((a) => a.range), avoidBuggyIps, autoAssign, bgpAdvertisements },
    addressPaths,
  };
}
