// Which speaker answers ARP/NDP for a Service. Every speaker evaluates the same pure function over
// the same observed state (live speakers, endpoints, selectors), so they agree on one owner without
// any per-Service Lease or write.
//
// Ranking (same as MetalLB's layer2): for each candidate node, digest = SHA-256 over the UTF-8 bytes
// of `nodeName + "#" + firstVIP`, where firstVIP is the Service's first status IP exactly as
// written there. Candidates are ordered by digest compared as unsigned bytes, most significant first
// (Buffer.compare); the first is the owner. Equal digests would need equal node names, so there are
// no ties. Because each node's rank depends only on its own name and the VIP, removing a node that
// does not own a Service never moves that Service, and removing the owner moves only the Services
// it owned (rendezvous hashing).
//
// No flap back: a node that returns after a failure must not take its VIPs back from the interim
// owner. Candidates are therefore tried in two tiers: first the live, eligible speakers that joined
// (began their current life: Lease acquireTime) before the Service was created (its
// creationTimestamp); only when none of them is eligible, every live, eligible speaker. A returning
// speaker joined after every existing Service was created, so it is in the second tier for all of
// them and wins none while an older speaker can serve; the hash still places each new Service over
// every speaker. Both timestamps are in objects every speaker sees, so all agree on the owner.
//
// Full turnover: after every speaker has restarted, none is older than the old Services, so the
// two tiers alone would let a returning hash-preferred node take a VIP back. A tier above them
// closes that: the *holders*, live and eligible nodes whose ServiceL2Status object for the Service
// (written by the owner when it took the Service, service-status-objects.ts) was written in the
// node's current life (the object's life annotation equals its Lease's acquireTime) *and* says the
// node took the Service over from a failed owner (the took-over-from annotation). A Service counts
// as taken over when, with the nodes its taker had seen renewing that are no longer live (Lease
// expired or deleted, declared dead by liveness, fenced) counted live again, one of those would own
// it (layer2TakeoverFrom: the same rule, asked once when the taker starts announcing). So a speaker
// that took every VIP while alone at a fresh install, or one that owns a Service because it ranks
// first, holds nothing, and the hash places Services as the speakers join; a returning node's
// objects are from its previous life, so it holds nothing, while the node that took its Services
// over holds them. The objects are watched by every speaker like the Leases, so all agree (the
// verdict is written once by the taker, never recomputed by the readers); without them
// (--service-status=false, CRDs not installed, or before a new owner's write lands) the two tiers
// decide as before. Two holders at once (a node that regained eligibility before deleting its
// object) are ordered by the ranking.
import { hash } from 'node:crypto';
import type { AnnounceReason } from './announcer.js';
import { hasReadyEndpoint, hasReadyEndpointOn, type EndpointsView, type RankingSlot, type ServiceView } from './service-view.js';

/** What a node's ServiceL2Status for a Service says: written in life `life` (acquireTime, ms), taken over from `tookOverFrom`. */
export interface Hold {
  life: number;
  /** The failed node it took the Service over from (layer2TakeoverFrom); undefined: not a takeover, holds nothing. */
  tookOverFrom: string | undefined;
}

/** The holders of one Service: node -> its Hold (a Map, or anything answering these two). */
export interface Holds {
  readonly size: number;
  get(node: string): Hold | undefined;
}

/** Why a Service has no layer2 owner at all. */
export type NoOwnerReason = 'noIPs' | 'noEndpoints' | 'noLocalEndpoints' | 'noEligibleSpeakers';

export type OwnerResult = { owner: string } | { owner: null; reason: NoOwnerReason };

export interface Layer2State {
  /** Live speakers (Membership.liveSet(), or live()); a collection, not a one-shot iterator. */
  liveSpeakers: readonly string[] | ReadonlySet<string>;
  /** Whether a node matches the pool's / peers' node selectors. */
  nodeSelected: (node: string) => boolean;
  /**
   * When `node` began its current life (ms since the epoch, its Lease's acquireTime); undefined when
   * unknown (such a node is never in the first tier). Without it, ownership is the plain ranking.
   */
  joinedAt?: (node: string) => number | undefined;
  /**
   * The nodes whose ServiceL2Status says they announce `service`, each with the life it was written
   * in and whom it took the Service over from; undefined or empty: no holders tier. Needs `joinedAt`
   * (a record counts only when its life is the node's current one and it names a failed owner).
   */
  holders?: (service: ServiceView) => Holds | undefined;
  /** Optional cache of rankings per VIP: same answers, without re-hashing on every resync. */
  ranking?: RankingCache;
}

/**
 * Rankings per first VIP over every node seen so far (live or not), so that a resync after a
 * membership change costs no hashing: the owner is the first live, eligible node of the cached
 * ranking. A node never seen before invalidates the cached rankings (they must include it).
 * With n nodes there are at most n! distinct rankings, and in practice far fewer than VIPs: equal
 * rankings share one array, so 10,000 VIPs cost one map entry each, not one array each; a Service
 * with a slot (ServiceView.ranked: the speaker's decoded Service) keeps its ranking there instead,
 * valid while it is one of the current distinct rankings: no map entry at all (a 10,000-entry map
 * was ~450 kB, heap snapshot).
 */
export class RankingCache {
  private readonly byVip = new Map<string, readonly string[]>();
  /** The distinct rankings in byVip, keyed by their node names joined with '\n' (not valid in a node name). */
  private readonly shared = new Map<string, readonly string[]>();
  /** The rankings in `shared`: a slot's ranking is valid while it is one of them. */
  private readonly current = new Set<readonly string[]>();
  private universe = new Set<string>();

  /** Every known node ranked for `firstVip`, after adding any of `nodes` not known yet; kept in `slot` if given (its ranking must be for `firstVip`), else per VIP. */
  rank(firstVip: string, nodes: Iterable<string>, slot?: RankingSlot): readonly string[] {
    let live = 0;
    let grown = false;
    for (const node of nodes) {
      live++;
      if (!this.universe.has(node)) {
        this.universe.add(node);
        grown = true;
      }
    }
    // Forget long-gone nodes once they outnumber the live ones, so node churn cannot grow it forever.
    if (this.universe.size > 2 * live + 8) {
      this.universe = new Set(nodes);
      grown = true;
    }
    if (grown) this.invalidate();
    const kept = slot?.ranking;
    if (kept !== undefined && this.current.has(kept)) return kept;
    const hit = slot ? undefined : this.byVip.get(firstVip);
    if (hit) return hit;
    const fresh = rankSpeakers(this.universe, firstVip);
    const id = fresh.join('\n');
    let ranked = this.shared.get(id);
    if (!ranked) {
      this.shared.set(id, (ranked = fresh));
      this.current.add(ranked);
    }
    if (slot) slot.ranking = ranked;
    else this.byVip.set(firstVip, ranked);
    return ranked;
  }

  /** Drop the ranking of a VIP no Service uses any more. */
  forgetVip(firstVip: string): void {
    this.byVip.delete(firstVip);
  }

  clear(): void {
    this.invalidate();
    this.universe.clear();
  }

  /** Number of VIPs with a cached ranking. */
  get size(): number {
    return this.byVip.size;
  }

  private invalidate(): void {
    this.byVip.clear();
    this.shared.clear();
    this.current.clear();
  }
}

/** The ranking digest of `node` for a Service whose first VIP is `firstVip`. */
export function ownerDigest(node: string, firstVip: string): Buffer {
  // One-shot crypto.hash: about a third cheaper than createHash().update().digest() for short input.
  return hash('sha256', `${node}#${firstVip}`, 'buffer');
}

/** All `nodes` in owner-preference order for `firstVip` (first = preferred). */
export function rankSpeakers(nodes: Iterable<string>, firstVip: string): string[] {
  const keyed = [...new Set(nodes)].map((node) => ({ node, digest: ownerDigest(node, firstVip) }));
  keyed.sort((a, b) => Buffer.compare(a.digest, b.digest));
  return keyed.map((k) => k.node);
}

/** A node may own the Service: it is selected and, for Local policy, has a ready endpoint of it. */
function eligible(node: string, service: ServiceView, endpoints: EndpointsView, state: Layer2State): boolean {
  if (!state.nodeSelected(node)) return false;
  return service.externalTrafficPolicy !== 'Local' || hasReadyEndpointOn(endpoints, node);
}

/** The layer2 owner of `service`, or why there is none. Independent of which speaker asks. */
export function layer2Owner(service: ServiceView, endpoints: EndpointsView, state: Layer2State): OwnerResult {
  const firstVip = service.ips[0];
  if (firstVip === undefined) return { owner: null, reason: 'noIPs' };
  if (!hasReadyEndpoint(endpoints)) return { owner: null, reason: 'noEndpoints' };
  const { tier, holders } = tierTest(service, state);
  if (state.ranking) return ownerFromRanking(service, endpoints, state, state.ranking.rank(firstVip, state.liveSpeakers, service.ranked), tier, holders);
  let best: { node: string; digest: Buffer; tier: Tier } | undefined;
  let anySelected = false;
  // Duplicates in liveSpeakers are harmless: the same node has the same digest.
  for (const node of state.liveSpeakers) {
    if (state.nodeSelected(node)) anySelected = true;
    if (!eligible(node, service, endpoints, state)) continue;
    const t = tier(node);
    if (best && best.tier < t) continue;
    const digest = ownerDigest(node, firstVip);
    if (!best || t < best.tier || Buffer.compare(digest, best.digest) < 0) best = { node, digest, tier: t };
  }
  if (best) return { owner: best.node };
  const reason = anySelected && service.externalTrafficPolicy === 'Local' ? 'noLocalEndpoints' : 'noEligibleSpeakers';
  return { owner: null, reason };
}

/** 0: holds the Service in its current life; 1: joined before the Service was created; 2: the others. */
type Tier = 0 | 1 | 2;

/** Each node's tier for `service` (see the file comment; the lowest non-empty tier wins), and whether tier 0 can have members. */
function tierTest(service: ServiceView, state: Layer2State): { tier: (node: string) => Tier; holders: boolean } {
  const created = service.createdAt;
  const joinedAt = state.joinedAt;
  if (joinedAt === undefined) return { tier: () => 2, holders: false };
  const recorded = state.holders?.(service);
  const held = recorded !== undefined && recorded.size > 0 ? recorded : undefined;
  if (created === undefined && !held) return { tier: () => 2, holders: false };
  const tier = (node: string): Tier => {
    const joined = joinedAt(node);
    if (joined === undefined) return 2;
    const hold = held?.get(node);
    // Only a takeover from a failed owner, written in the node's current life, holds.
    if (hold !== undefined && hold.tookOverFrom !== undefined && hold.life === joined) return 0;
    return created !== undefined && joined < created ? 1 : 2;
  };
  return { tier, holders: held !== undefined };
}

function ownerFromRanking(
  service: ServiceView,
  endpoints: EndpointsView,
  state: Layer2State,
  ranked: readonly string[],
  tier: (node: string) => Tier,
  holders: boolean,
): OwnerResult {
  const live = toSet(state.liveSpeakers);
  let anySelected = false;
  let veteran: string | undefined;
  let fallback: string | undefined;
  for (const node of ranked) {
    if (!live.has(node)) continue;
    if (state.nodeSelected(node)) anySelected = true;
    if (!eligible(node, service, endpoints, state)) continue;
    const t = tier(node);
    if (t === 0) return { owner: node };
    // Without holders the first veteran is the answer: no need to rank the rest.
    if (t === 1 && !holders) return { owner: node };
    if (t === 1) veteran ??= node;
    fallback ??= node;
  }
  const owner = veteran ?? fallback;
  if (owner !== undefined) return { owner };
  const reason = anySelected && service.externalTrafficPolicy === 'Local' ? 'noLocalEndpoints' : 'noEligibleSpeakers';
  return { owner: null, reason };
}

function toSet(nodes: readonly string[] | ReadonlySet<string>): ReadonlySet<string> {
  return Array.isArray(nodes) ? new Set(nodes) : (nodes as ReadonlySet<string>);
}

export interface Layer2Self extends Layer2State {
  /** This speaker's node name. */
  self: string;
  /** This speaker has fenced itself (speaker/fencing.ts). */
  fenced: boolean;
  /**
   * When this speaker's current life began (the acquireTime it writes), known locally before its
   * own watch shows it: a restarted speaker first lists its old Lease with the old acquireTime, and
   * judged by that it would count as older than the Services and take its VIPs back (a flap back).
   */
  selfJoinedAt?: number;
  /**
   * Claims gated (claim-gate.ts): back from a cut, this speaker's view of the holders may be older
   * than the reconnection, so it starts announcing no Service it does not announce already.
   */
  claimsGated?: boolean;
  /** Whether this speaker announces `service` (key) now; read for a claim (a Service it does not announce yet). */
  announcing?: (service: string) => boolean;
  /**
   * With liveness (liveness-gate.ts mayClaimFrom): whether this speaker may take a VIP from `node`,
   * the owner in the view without this speaker (`node` counts it: it heard it). Undefined: no wait.
   */
  mayClaimFrom?: (node: string) => boolean;
}

/**
 * This speaker's layer2 decision for `service`: null = answer for its VIPs, else the reason not to.
 * It is null exactly when layer2Owner names `self`, `self` is not fenced, and `self` announces the
 * Service already or claims are neither gated nor waiting for a peer (mayClaimFrom); the reason
 * names the most specific local cause (fenced, not selected, no local endpoint, not live) before
 * `notOwner`, `viewStale` for a gated claim, and `awaitingPeer` for a claim that waits for the owner
 * without `self` to count it (liveness-gate.ts, claims).
 */
export function layer2Decision(service: ServiceView, endpoints: EndpointsView, state: Layer2Self): AnnounceReason | null {
  if (state.fenced) return 'fenced';
  if (service.ips.length === 0) return 'noIPs';
  if (!hasReadyEndpoint(endpoints)) return 'noEndpoints';
  if (!state.nodeSelected(state.self)) return 'nodeNotSelected';
  if (service.externalTrafficPolicy === 'Local' && !hasReadyEndpointOn(endpoints, state.self)) return 'noLocalEndpoints';
  const judged = judgedByOwnLife(state);
  const result = layer2Owner(service, endpoints, judged);
  if (result.owner === state.self) {
    if (state.announcing?.(service.key) === true) return null;
    // A stale view may lack the holder that took this Service over while we were cut off: keep, never claim.
    if (state.claimsGated) return 'viewStale';
    // A peer that has not heard us yet excludes us (joining) and answers itself: claim once it counts us (liveness-gate.ts).
    const without = state.mayClaimFrom ? ownerWithout(service, endpoints, judged, state.self) : undefined;
    return without !== undefined && state.mayClaimFrom?.(without) === false ? 'awaitingPeer' : null;
  }
  // Not among the live speakers: others do not count this node, so it must not answer either.
  return toSet(state.liveSpeakers).has(state.self) ? 'notOwner' : 'notLive';
}

/** The layer2 owner of `service` in the view without `self` (the node a claim by `self` takes the VIP from), if any. */
function ownerWithout(service: ServiceView, endpoints: EndpointsView, state: Layer2State, self: string): string | undefined {
  const others: string[] = [];
  for (const node of state.liveSpeakers) if (node !== self) others.push(node);
  if (others.length === 0) return undefined;
  return layer2Owner(service, endpoints, { ...state, liveSpeakers: others }).owner ?? undefined;
}

/** `state` with `self` judged by the life it is in (selfJoinedAt), not by its Lease as last listed. */
function judgedByOwnLife(state: Layer2Self): Layer2State {
  const { self, selfJoinedAt, joinedAt } = state;
  return selfJoinedAt === undefined || joinedAt === undefined ? state : { ...state, joinedAt: (node) => (node === self ? selfJoinedAt : joinedAt(node)) };
}

/**
 * Asked when `self` starts announcing `service`: the failed node it takes the Service over from, or
 * undefined when it is no takeover. `seen`: the nodes `self` has seen renewing their Lease
 * (Membership.seenRenewing()); those not among the live speakers now failed or left (expired,
 * deleted, declared dead, fenced). It is a takeover when, with them counted live again, one of them
 * would own the Service by the same rule (tiers, holders, ranking, eligibility as known now): the
 * Service is here only because that node failed. A speaker alone since it started, or owning a
 * Service because it ranks first among every node it has seen, takes nothing over. The taker writes
 * the answer on its ServiceL2Status (service-status-objects.ts); readers never recompute it.
 */
export function layer2TakeoverFrom(service: ServiceView, endpoints: EndpointsView, state: Layer2Self, seen: Iterable<string>): string | undefined {
  const live = toSet(state.liveSpeakers);
  const failed = new Set<string>();
  for (const node of seen) if (node !== state.self && !live.has(node)) failed.add(node);
  if (failed.size === 0) return undefined;
  // No ranking cache: this is asked once per assignment, and must not grow the cache's universe.
  const result = layer2Owner(service, endpoints, { ...judgedByOwnLife(state), liveSpeakers: [...live, ...failed], ranking: undefined });
  return result.owner !== null && failed.has(result.owner) ? result.owner : undefined;
}
