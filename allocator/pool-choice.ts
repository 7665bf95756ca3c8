// Which pools a Service may take addresses from, and in which order a Service that asks for no pool
// tries them: MetalLB's IPAddressPool `serviceAllocation` rules. Pure; the allocator asks it for every
// choice, so the order and the restrictions are one rule in one place.
//
// Order (MetalLB's): the auto-assign pools whose serviceAllocation matches the Service, lower priority
// first and pools without a priority after those with one; then the auto-assign pools without a
// serviceAllocation. Ties keep config order (MetalLB iterates a Go map: no defined order). A pool whose
// serviceAllocation does not match the Service never gives it an address, not even when the Service
// names the pool or asks for one of its addresses (MetalLB refuses that assignment too). What a Service
// already holds is never taken back for these rules (Herald never reshuffles; config-check.ts).
import type { AddressPool, ServiceAllocation } from '../config/model.js';
import { matchesNode } from '../config/selectors.js';

/** What of a Service the rules read. */
export interface ServiceScope {
  namespace: string;
  labels: Readonly<Record<string, string>>;
  /** The labels of the Service's Namespace; undefined when not known (yet). */
  namespaceLabels: Readonly<Record<string, string>> | undefined;
}

/**
 * Whether the pool's serviceAllocation lets the Service take its addresses: true or false, or undefined
 * when that depends on the labels of a Namespace not known yet.
 */
export function allows(sa: ServiceAllocation | undefined, s: ServiceScope): boolean | undefined {
  if (!sa) return true;
  if (sa.serviceSelectors.length > 0 && !matchesNode(sa.serviceSelectors, s.labels)) return false;
  if (sa.namespaces.length === 0 && sa.namespaceSelectors.length === 0) return true;
  if (sa.namespaces.includes(s.namespace)) return true;
  if (sa.namespaceSelectors.length === 0) return false;
  if (s.namespaceLabels === undefined) return undefined;
  return matchesNode(sa.namespaceSelectors, s.namespaceLabels);
}

/** The pools a Service asking for no pool tries, in order; `unknownNamespace` when one depended on unknown Namespace labels. */
export function autoAssignOrder<P extends { readonly pool: AddressPool; readonly index: number }>(pools: readonly P[], s: ServiceScope): { order: P[]; unknownNamespace: boolean } {
  const matching: P[] = [];
  const open: P[] = [];
  let unknownNamespace = false;
  for (const p of pools) {
    if (!p.pool.autoAssign) continue;
    const sa = p.pool.serviceAllocation;
    if (!sa) {
      open.push(p);
      continue;
    }
    const ok = allows(sa, s);
    if (ok === undefined) unknownNamespace = true;
    else if (ok) matching.push(p);
  }
  const rank = (p: P): number => p.pool.serviceAllocation?.priority ?? Infinity;
  matching.sort((a, b) => rank(a) - rank(b) || a.index - b.index);
  return { order: [...matching, ...open], unknownNamespace };
}

/**
 * The order autoAssignOrder gives every Service when it cannot depend on the Service (no auto-assign pool
 * has a serviceAllocation), or undefined when it can: computed once per config, so the common case pays
 * no per-allocation scope, arrays or sort.
 */
export function serviceFreeOrder<P extends { readonly pool: AddressPool; readonly index: number }>(pools: readonly P[]): P[] | undefined {
  if (pools.some((p) => p.pool.autoAssign && p.pool.serviceAllocation)) return undefined;
  return autoAssignOrder(pools, { namespace: '', labels: {}, namespaceLabels: undefined }).order;
}

/** The namespace of a `namespace/name` key. */
export function namespaceOfKey(key: string): string {
  const slash = key.indexOf('/');
  return slash < 0 ? 'default' : key.slice(0, slash);
}
