// One `address-pools[]` entry: its addresses, flags and (for bgp) advertisements, with MetalLB's rules.
import { formatIp, parseAddressEntry } from './addresses.js';
import { aggregationWarnings, checkAggregation } from './aggregation.js';
import { parseCommunity, sameCommunity } from './communities.js';
import { checkKeys, describe, expectMapping, isAbsent, readBoolean, readInteger, readList, readString } from './fields.js';
import { Issues, indexPath, keyPath, quote } from './issues.js';
import { neverHostWithin } from './never-host.js';
import type { AddressPool, AddressRange, BgpAdvertisement, Community, Protocol, ServiceAllocation } from './model.js';
import { parseNodeSelectors } from './selectors.js';

export const POOL_KEYS = ['name', 'protocol', 'addresses', 'avoid-buggy-ips', 'auto-assign', 'bgp-advertisements', 'service-allocation'] as const;
export const SERVICE_ALLOCATION_KEYS = ['priority', 'namespaces', 'namespace-selectors', 'service-selectors'] as const;
/** MetalLB's priority is a Go int; a pool needs no more than this to be ordered. */
const MAX_PRIORITY = 2147483647;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
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
  // A bare `-` is an advertisement with every default, as in MetalLB (a null struct in Go).
  if (isAbsent(value)) return defaultAdvertisement();
  const obj = expectMapping(value, path, issues, 'a BGP advertisement');
  if (!obj) return undefined;
  checkKeys(obj, path, ADVERTISEMENT_KEYS, issues);
  const adv = defaultAdvertisement();
  adv.aggregationLength = readInteger(obj, 'aggregation-length', path, issues, { min: 0, max: 32, what: 'IPv4 aggregation prefix length' }) ?? 32;
  adv.aggregationLengthV6 =
    readInteger(obj, 'aggregation-length-v6', path, issues, { min: 0, max: 128, what: 'IPv6 aggregation prefix length' }) ?? 128;
  const localPref = readInteger(obj, 'localpref', path, issues, { min: 0, max: 4294967295, what: 'BGP LOCAL_PREF' });
  if (localPref !== undefined) adv.localPref = localPref;
  const written = new Map<string, string>();
  readList(obj, 'communities', path, issues, 'communities')?.forEach((c, i) => {
    const at = indexPath(keyPath(path, 'communities'), i);
    if (typeof c !== 'string') {
      issues.add(at, `expected a community alias or literal like "64512:100" (a string), got ${describe(c)}`);
      return;
    }
    // MetalLB v0.12 refuses the same text twice; an alias and a literal of one value are announced once.
    const first = written.get(c);
    if (first !== undefined) {
      issues.add(at, `community ${quote(c)} is listed twice in one advertisement (first at ${first}); remove one`);
      return;
    }
    written.set(c, at);
    const community = resolveCommunity(c, aliases);
    if (typeof community === 'string') issues.add(at, community);
    else if (!adv.communities.some((x) => sameCommunity(x, community))) adv.communities.push(community);
  });
  return adv;
}

/**
 * What MetalLB v0.12 compares to find a duplicate advertisement: the entry as written (Go's DeepEqual
 * of the raw struct), so `{}` and `{aggregation-length: 32}` differ, and a bare `-` equals `{}`.
 */
function writtenAdvertisement(value: unknown): string {
  const obj = isAbsent(value) ? {} : (value as Record<string, unknown>);
  return JSON.stringify(ADVERTISEMENT_KEYS.map((k) => obj[k] ?? null));
}

function sameAdvertisement(a: BgpAdvertisement, b: BgpAdvertisement): boolean {
  return (
    a.aggregationLength === b.aggregationLength &&
    a.aggregationLengthV6 === b.aggregationLengthV6 &&
    a.localPref === b.localPref &&
    a.communities.length === b.communities.length &&
    a.communities.every((c, i) => sameCommunity(c, b.communities[i]))
  );
}

/**
 * `service-allocation` (MetalLB's IPAddressPool `serviceAllocation`; a Herald extension in the ConfigMap):
 * priority 0 is MetalLB's "unset" (after every pool with one); a namespace listed twice is an error, as in MetalLB.
 */
function parseServiceAllocation(value: unknown, path: string, issues: Issues): ServiceAllocation | undefined {
  const obj = expectMapping(value, path, issues, 'a service allocation (priority, namespaces, namespace-selectors, service-selectors)');
  if (!obj) return undefined;
  checkKeys(obj, path, SERVICE_ALLOCATION_KEYS, issues);
  const priority = readInteger(obj, 'priority', path, issues, { min: 0, max: MAX_PRIORITY, what: 'priority (lower is tried first; 0 or absent: after every pool with a priority)' });
  const namespaces: string[] = [];
  readList(obj, 'namespaces', path, issues, 'namespace names')?.forEach((n, i) => {
    const at = indexPath(keyPath(path, 'namespaces'), i);
    if (typeof n !== 'string') return issues.add(at, `expected a namespace name (a string), got ${describe(n)}`);
    if (n.length > 63 || !DNS_LABEL.test(n)) return issues.add(at, `${quote(n)} is not a namespace name (a DNS label: lowercase letters, digits and '-')`);
    if (namespaces.includes(n)) return issues.add(at, `namespace ${quote(n)} is listed twice; remove one`);
    namespaces.push(n);
  });
  const selectors = (key: string, what: string) => {
    const list = readList(obj, key, path, issues, what);
    return list ? parseNodeSelectors(list, keyPath(path, key), issues) : [];
  };
  const sa: ServiceAllocation = {
    namespaces,
    namespaceSelectors: selectors('namespace-selectors', 'namespace label selectors'),
    serviceSelectors: selectors('service-selectors', 'Service label selectors'),
  };
  if (priority) sa.priority = priority;
  return sa;
}

export interface ParsedPool {
  /** The pool name when it is valid, for the uniqueness check, even if the pool has other problems. */
  name?: string;
  /** The pool, when its name and protocol are valid (other issues are in `issues`). */
  pool?: AddressPool;
  /** Each address with its path, for the overlap check. */
  addressPaths: { range: AddressRange; path: string }[];
}

/** Warns about an entry that contains addresses that can never be a host's: they are never handed out. */
function neverHostWarning(range: AddressRange, path: string, warnings: Issues): void {
  const parts = neverHostWithin(range.family, range.first, range.last);
  if (parts.length === 0) return;
  const text = parts.map((p) => `${p.first === p.last ? formatIp(range.family, p.first) : `${formatIp(range.family, p.first)}-${formatIp(range.family, p.last)}`} (${p.what})`);
  warnings.add(path, `contains ${text.join(', ')}: never a host's address, so never handed out to a Service`);
}

export function parsePool(
  value: unknown,
  path: string,
  issues: Issues,
  aliases: ReadonlyMap<string, Community>,
  warnings: Issues,
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
  const serviceAllocation = isAbsent(obj['service-allocation']) ? undefined : parseServiceAllocation(obj['service-allocation'], keyPath(path, 'service-allocation'), issues);

  const advPath = keyPath(path, 'bgp-advertisements');
  const advList = readList(obj, 'bgp-advertisements', path, issues, 'BGP advertisements') ?? [];
  if (protocol === 'layer2' && advList.length > 0) {
    issues.add(advPath, 'a layer2 pool cannot have bgp-advertisements (layer2 announces by ARP/NDP); remove them or use protocol: bgp');
  }
  const advertisements: BgpAdvertisement[] = [];
  const writtenPaths = new Map<string, string>();
  const located: { adv: BgpAdvertisement; at: string }[] = [];
  advList.forEach((a, i) => {
    const at = indexPath(advPath, i);
    const before = issues.count;
    const adv = parseAdvertisement(a, at, issues, aliases);
    if (!adv) return;
    if (issues.count === before) {
      const written = writtenAdvertisement(a);
      const first = writtenPaths.get(written);
      if (first !== undefined) issues.add(at, `duplicate advertisement: the same as ${first}; remove one`);
      else writtenPaths.set(written, at);
    }
    checkAggregation(adv, at, addressPaths, issues);
    located.push({ adv, at });
    // Written differently but equal ({} and {aggregation-length: 32}) gives the same routes: keep one.
    if (!advertisements.some((x) => sameAdvertisement(x, adv))) advertisements.push(adv);
  });
  // Warnings only for a config that can still be valid: an invalid one is refused with its errors.
  if (issues.count === 0) for (const { adv, at } of located) aggregationWarnings(adv, at, addressPaths, warnings);
  if (issues.count === 0) for (const { range, path: at } of addressPaths) neverHostWarning(range, at, warnings);

  if (name === undefined || name === '' || protocol === undefined) return { name, addressPaths };
  const bgpAdvertisements = protocol === 'layer2' ? [] : advertisements.length > 0 ? advertisements : [defaultAdvertisement()];
  const pool: AddressPool = { name, protocol, addresses: addressPaths.map((a) => a.range), avoidBuggyIps, autoAssign, bgpAdvertisements };
  if (serviceAllocation) pool.serviceAllocation = serviceAllocation;
  return { name, pool, addressPaths };
}
