// Where a pool is announced: which nodes, on which interfaces, to which BGP peers (MetalLB's
// L2Advertisement / BGPAdvertisement nodeSelectors, interfaces and peers). Pure functions over the
// model; the controller and every speaker ask these, so they agree (one rule, one place).
//
// Several advertisements on one pool are united, as in MetalLB: a node may announce when any of them
// selects it; it answers on the union of the interfaces of those that select it, and on every
// interface when one of them lists none. The ConfigMap cannot scope advertisements: its pools carry
// no l2Advertisements (every node, every interface) and BGP advertisements without selectors or peers.
import { type AddressPool, type BgpAdvertisement, type L2Advertisement } from './model.js';
import { matchesNode } from './selectors.js';

/** Whether any advertisement selects the pool (MetalLB allocates from an unselected pool without announcing it). */
export function poolAnnounced(pool: AddressPool): boolean {
  if (pool.protocol === 'bgp') return pool.bgpAdvertisements.length > 0;
  return pool.l2Advertisements === undefined || pool.l2Advertisements.length > 0;
}

function l2Selecting(pool: AddressPool, labels: Readonly<Record<string, string>>): L2Advertisement[] | undefined {
  if (pool.l2Advertisements === undefined) return undefined;
  return pool.l2Advertisements.filter((a) => matchesNode(a.nodeSelectors, labels as Record<string, string>));
}

/** Whether a node with these labels may be the layer2 owner of the pool's VIPs. */
export function layer2Selects(pool: AddressPool, labels: Readonly<Record<string, string>>): boolean {
  const selecting = l2Selecting(pool, labels);
  return selecting === undefined || selecting.length > 0;
}

/**
 * The interfaces a node with these labels answers on for the pool's VIPs: undefined = every interface
 * the speaker serves; else only these (intersected with what the speaker serves: --interface and
 * --exclude-interface still apply). Interfaces do not take part in choosing the owner (as in MetalLB):
 * an owner without any listed interface does not answer.
 */
export function layer2Interfaces(pool: AddressPool, labels: Readonly<Record<string, string>>): string[] | undefined {
  const selecting = l2Selecting(pool, labels);
  if (selecting === undefined || selecting.length === 0 || selecting.some((a) => a.interfaces.length === 0)) return undefined;
  return [...new Set(selecting.flatMap((a) => a.interfaces))].sort();
}

/** Whether a node with these labels advertises any of the pool's routes (to some peer). */
export function bgpSelects(pool: AddressPool, labels: Readonly<Record<string, string>>): boolean {
  return pool.bgpAdvertisements.some((a) => matchesNode(a.nodeSelectors ?? [], labels as Record<string, string>));
}

/** Whether `ad` goes to the peer named `peer` (a BGPPeer name; undefined for a ConfigMap peer). */
export function advertisesTo(ad: BgpAdvertisement, peer: string | undefined): boolean {
  return ad.peers === undefined || (peer !== undefined && ad.peers.includes(peer));
}

/** The pool's BGP advertisements a node with these labels sends to `peer`. */
export function bgpAdvertisementsFor(pool: AddressPool, labels: Readonly<Record<string, string>>, peer: string | undefined): BgpAdvertisement[] {
  return pool.bgpAdvertisements.filter((a) => matchesNode(a.nodeSelectors ?? [], labels as Record<string, string>) && advertisesTo(a, peer));
}

/** Whether any advertisement of the config is scoped to peers (else every peer gets the same routes). */
export function anyPeerScoped(pools: readonly AddressPool[]): boolean {
  return pools.some((p) => p.bgpAdvertisements.some((a) => a.peers !== undefined));
}
