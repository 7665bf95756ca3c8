// What a Service contributes to BGP: its VIPs aggregated per the pool's bgp-advertisements, with
// their attributes, and whether this node should advertise them at all. Pure: config model in,
// route descriptions out; the BGP library turns them into UPDATEs.
import type { AddressPool, BgpAdvertisement, Family } from '../config/model.js';
import type { AnnounceReason } from './announcer.js';
import { formatIp, maskIp, parseIp } from './ip-prefix.js';
import { hasReadyEndpoint, hasReadyEndpointOn, type EndpointsView, type ServiceView } from './service-view.js';

export interface LargeCommunity {
  globalAdmin: number;
  localData1: number;
  localData2: number;
}

/** One route to advertise. Communities are sorted and without duplicates, so equal routes compare equal. */
export interface BgpRoute {
  /** "203.0.113.0/24", "2001:db8::/64": the key of the route. */
  prefix: string;
  family: Family;
  /** Network address, host bits cleared, in printed form. */
  address: string;
  prefixLength: number;
  localPref?: number;
  /** RFC 1997 communities as 32-bit numbers (AS << 16 | value). */
  communities: number[];
  /** RFC 8092 large communities. */
  largeCommunities: LargeCommunity[];
}

/** A VIP or advertisement that cannot produce a route; `path` names the offending field. */
export class BgpAdvertisementError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'BgpAdvertisementError';
    this.path = path;
  }
}

function compareLarge(a: LargeCommunity, b: LargeCommunity): number {
  return a.globalAdmin - b.globalAdmin || a.localData1 - b.localData1 || a.localData2 - b.localData2;
}

function normalize(route: BgpRoute): BgpRoute {
  const communities = [...new Set(route.communities)].sort((a, b) => a - b);
  const large: LargeCommunity[] = [];
  for (const c of [...route.largeCommunities].sort(compareLarge)) {
    const prev = large[large.length - 1];
    if (!prev || compareLarge(prev, c) !== 0) large.push({ ...c });
  }
  const out: BgpRoute = { ...route, communities, largeCommunities: large };
  if (out.localPref === undefined) delete out.localPref;
  return out;
}

/**
 * Merge two descriptions of the same prefix (two advertisements, or two Services aggregating to one
 * prefix): communities are united, and the higher local-pref wins, so the result does not depend on
 * the order of advertisements or Services.
 */
export function mergeRoutes(a: BgpRoute, b: BgpRoute): BgpRoute {
  let localPref = a.localPref;
  if (b.localPref !== undefined && (localPref === undefined || b.localPref > localPref)) localPref = b.localPref;
  return normalize({
    ...a,
    localPref,
    communities: [...a.communities, ...b.communities],
    largeCommunities: [...a.largeCommunities, ...b.largeCommunities],
  });
}

export function sameRoute(a: BgpRoute, b: BgpRoute): boolean {
  return (
    a.prefix === b.prefix &&
    a.localPref === b.localPref &&
    a.communities.length === b.communities.length &&
    a.communities.every((c, i) => c === b.communities[i]) &&
    a.largeCommunities.length === b.largeCommunities.length &&
    a.largeCommunities.every((c, i) => compareLarge(c, b.largeCommunities[i]) === 0)
  );
}

function routeFor(vip: string, vipIndex: number, ad: BgpAdvertisement, adIndex: number): BgpRoute {
  let ip;
  try {
    ip = parseIp(vip);
  } catch (err) {
    throw new BgpAdvertisementError(`ips[${vipIndex}]`, (err as Error).message);
  }
  const length = ip.family === 'ipv4' ? ad.aggregationLength : ad.aggregationLengthV6;
  const max = ip.family === 'ipv4' ? 32 : 128;
  if (!Number.isInteger(length) || length < 0 || length > max) {
    const field = ip.family === 'ipv4' ? 'aggregation-length' : 'aggregation-length-v6';
    throw new BgpAdvertisementError(`bgp-advertisements[${adIndex}].${field}`, `must be an integer 0..${max}, got ${length}`);
  }
  const address = formatIp(maskIp(ip, length));
  const communities: number[] = [];
  const largeCommunities: LargeCommunity[] = [];
  for (const c of ad.communities) {
    if (c.kind === 'standard') communities.push(c.value >>> 0);
    else largeCommunities.push({ globalAdmin: c.globalAdmin, localData1: c.localData1, localData2: c.localData2 });
  }
  return normalize({
    prefix: `${address}/${length}`,
    family: ip.family,
    address,
    prefixLength: length,
    localPref: ad.localPref,
    communities,
    largeCommunities,
  });
}

function compareRoutes(a: BgpRoute, b: BgpRoute): number {
  if (a.family !== b.family) return a.family === 'ipv4' ? -1 : 1;
  const av = parseIp(a.address).value;
  const bv = parseIp(b.address).value;
  if (av !== bv) return av < bv ? -1 : 1;
  return a.prefixLength - b.prefixLength;
}

/**
 * The routes a Service with these VIPs advertises from `pool`: one per distinct aggregated prefix
 * (several VIPs in one /24 with aggregation-length 24 give one route), attributes merged per prefix
 * (mergeRoutes), sorted v4 first then by address and length. A pool with no bgp-advertisements
 * (a layer2 pool) gives none.
 */
export function serviceRoutes(ips: readonly string[], pool: AddressPool): BgpRoute[] {
  const byPrefix = new Map<string, BgpRoute>();
  pool.bgpAdvertisements.forEach((ad, adIndex) => {
    ips.forEach((vip, vipIndex) => {
      const route = routeFor(vip, vipIndex, ad, adIndex);
      const prev = byPrefix.get(route.prefix);
      byPrefix.set(route.prefix, prev ? mergeRoutes(prev, route) : route);
    });
  });
  return [...byPrefix.values()].sort(compareRoutes);
}

/**
 * This node's BGP decision for `service`: advertise when it has a ready endpoint anywhere (Cluster)
 * or on this node (Local). Node selection happens per peer session, not here.
 */
export function bgpDecision(service: ServiceView, endpoints: EndpointsView, self: string): AnnounceReason | null {
  if (service.ips.length === 0) return 'noIPs';
  if (!hasReadyEndpoint(endpoints)) return 'noEndpoints';
  if (service.externalTrafficPolicy === 'Local' && !hasReadyEndpointOn(endpoints, self)) return 'noLocalEndpoints';
  return null;
}
