// The speaker's BGP routes across all Services. Several Services can contribute the same aggregated
// prefix; the table keeps one route per prefix (attributes merged as mergeRoutes does: communities
// united, highest local-pref), reference-counted by Service, and reports only what changed, so adding
// or removing a Service sends incremental UPDATEs and never needs a session reset. Attribute counts
// per prefix keep each change O(attributes), also when thousands of Services share one aggregate.
import { sameRoute, type BgpRoute, type LargeCommunity } from './bgp-advertisements.js';

export interface RouteDelta {
  /** Routes new or with changed attributes: (re-)advertise these. */
  advertise: BgpRoute[];
  /** Prefixes no Service contributes any more: withdraw these. */
  withdraw: string[];
}

interface PrefixEntry {
  template: Pick<BgpRoute, 'prefix' | 'family' | 'address' | 'prefixLength'>;
  services: Map<string, BgpRoute>;
  /**
   * How many contributing routes carry each attribute value, keyed "c:<community>",
   * "l:<global>:<local1>:<local2>" or "p:<local-pref>": one Map rather than three keeps an entry small.
   */
  attrs: Map<string, number>;
}

function attrKeys(route: BgpRoute): string[] {
  const keys = route.communities.map((c) => `c:${c}`);
  for (const c of route.largeCommunities) keys.push(`l:${c.globalAdmin}:${c.localData1}:${c.localData2}`);
  if (route.localPref !== undefined) keys.push(`p:${route.localPref}`);
  return keys;
}

/** Count `route`'s attributes in or out; true when an attribute value appeared or disappeared. */
function account(entry: PrefixEntry, route: BgpRoute, by: 1 | -1): boolean {
  let changed = false;
  for (const key of attrKeys(route)) {
    const n = (entry.attrs.get(key) ?? 0) + by;
    if (n === 0) entry.attrs.delete(key);
    else entry.attrs.set(key, n);
    if (n === 0 || n === by) changed = true;
  }
  return changed;
}

function merged(entry: PrefixEntry): BgpRoute {
  const communities: number[] = [];
  const largeCommunities: LargeCommunity[] = [];
  let localPref: number | undefined;
  for (const key of entry.attrs.keys()) {
    const parts = key.slice(2).split(':').map(Number);
    if (key[0] === 'c') communities.push(parts[0]);
    else if (key[0] === 'l') largeCommunities.push({ globalAdmin: parts[0], localData1: parts[1], localData2: parts[2] });
    else if (localPref === undefined || parts[0] > localPref) localPref = parts[0];
  }
  communities.sort((a, b) => a - b);
  largeCommunities.sort((a, b) => a.globalAdmin - b.globalAdmin || a.localData1 - b.localData1 || a.localData2 - b.localData2);
  const route: BgpRoute = { ...entry.template, communities, largeCommunities };
  if (localPref !== undefined) route.localPref = localPref;
  return route;
}

export class BgpRouteTable {
  private readonly prefixes = new Map<string, PrefixEntry>();
  /** Service key -> prefixes it contributes. */
  private readonly byService = new Map<string, Set<string>>();
  /** prefix -> the merged route currently advertised. */
  private readonly effective = new Map<string, BgpRoute>();

  /** Replace the routes of `service` (from serviceRoutes: one route per prefix); [] is the same as delete. */
  set(service: string, routes: readonly BgpRoute[]): RouteDelta {
    // Only prefixes whose attribute set or existence changed need a new merged route; a Service
    // joining an aggregate with the same attributes only bumps counters.
    const dirty = new Set<string>();
    const previous = this.byService.get(service);
    if (previous) {
      for (const prefix of previous) {
        const entry = this.prefixes.get(prefix)!;
        if (account(entry, entry.services.get(service)!, -1)) dirty.add(prefix);
        entry.services.delete(service);
        if (entry.services.size === 0) dirty.add(prefix);
      }
    }
    const mine = new Set<string>();
    for (const route of routes) {
      if (mine.has(route.prefix)) continue; // serviceRoutes never repeats a prefix
      let entry = this.prefixes.get(route.prefix);
      if (!entry) {
        const { prefix, family, address, prefixLength } = route;
        entry = { template: { prefix, family, address, prefixLength }, services: new Map(), attrs: new Map() };
        this.prefixes.set(route.prefix, entry);
        dirty.add(route.prefix);
      }
      entry.services.set(service, route);
      if (account(entry, route, 1)) dirty.add(route.prefix);
      mine.add(route.prefix);
    }
    if (mine.size > 0) this.byService.set(service, mine);
    else this.byService.delete(service);
    return this.recompute(dirty);
  }

  delete(service: string): RouteDelta {
    return this.set(service, []);
  }

  /** Every route advertised now. */
  routes(): BgpRoute[] {
    return [...this.effective.values()];
  }

  /** The Services contributing `prefix`. */
  contributors(prefix: string): string[] {
    return [...(this.prefixes.get(prefix)?.services.keys() ?? [])];
  }

  /** Number of prefixes advertised. */
  get size(): number {
    return this.effective.size;
  }

  private recompute(prefixes: Iterable<string>): RouteDelta {
    const delta: RouteDelta = { advertise: [], withdraw: [] };
    for (const prefix of prefixes) {
      const entry = this.prefixes.get(prefix);
      const before = this.effective.get(prefix);
      if (!entry || entry.services.size === 0) {
        this.prefixes.delete(prefix);
        if (before) {
          this.effective.delete(prefix);
          delta.withdraw.push(prefix);
        }
        continue;
      }
      const route = merged(entry);
      if (!before || !sameRoute(before, route)) {
        this.effective.set(prefix, route);
        delta.advertise.push(route);
      }
    }
    return delta;
  }
}
