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
  communities: Map<number, number>;
  large: Map<string, { value: LargeCommunity; count: number }>;
  localPrefs: Map<number, number>;
}

function bump<K>(counts: Map<K, number>, key: K, by: 1 | -1): void {
  const n = (counts.get(key) ?? 0) + by;
  if (n === 0) counts.delete(key);
  else counts.set(key, n);
}

function largeKey(c: LargeCommunity): string {
  return `${c.globalAdmin}:${c.localData1}:${c.localData2}`;
}

function account(entry: PrefixEntry, route: BgpRoute, by: 1 | -1): void {
  for (const c of route.communities) bump(entry.communities, c, by);
  for (const c of route.largeCommunities) {
    const key = largeKey(c);
    const slot = entry.large.get(key) ?? { value: c, count: 0 };
    slot.count += by;
    if (slot.count === 0) entry.large.delete(key);
    else entry.large.set(key, slot);
  }
  if (route.localPref !== undefined) bump(entry.localPrefs, route.localPref, by);
}

function merged(entry: PrefixEntry): BgpRoute {
  const route: BgpRoute = {
    ...entry.template,
    communities: [...entry.communities.keys()].sort((a, b) => a - b),
    largeCommunities: [...entry.large.values()]
      .map((s) => s.value)
      .sort((a, b) => a.globalAdmin - b.globalAdmin || a.localData1 - b.localData1 || a.localData2 - b.localData2),
  };
  if (entry.localPrefs.size > 0) route.localPref = Math.max(...entry.localPrefs.keys());
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
    const touched = new Set<string>(this.byService.get(service) ?? []);
    for (const prefix of touched) {
      const entry = this.prefixes.get(prefix)!;
      account(entry, entry.services.get(service)!, -1);
      entry.services.delete(service);
    }
    const mine = new Set<string>();
    for (const route of routes) {
      if (mine.has(route.prefix)) continue; // serviceRoutes never repeats a prefix
      let entry = this.prefixes.get(route.prefix);
      if (!entry) {
        const { prefix, family, address, prefixLength } = route;
        entry = {
          template: { prefix, family, address, prefixLength },
          services: new Map(),
          communities: new Map(),
          large: new Map(),
          localPrefs: new Map(),
        };
        this.prefixes.set(route.prefix, entry);
      }
      entry.services.set(service, route);
      account(entry, route, 1);
      mine.add(route.prefix);
      touched.add(route.prefix);
    }
    if (mine.size > 0) this.byService.set(service, mine);
    else this.byService.delete(service);
    return this.recompute(touched);
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
