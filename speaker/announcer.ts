// The one interface the speaker drives both protocols through (MetalLB's split): the speaker decides
// *whether* a Service should be announced here, the announcer does the protocol work. Tests swap in
// RecordingAnnouncer to observe decisions without raw sockets or BGP sessions.
import type { AddressPool, Config, Protocol } from '../config/model.js';
import type { EndpointsView, ServiceView } from './service-view.js';

/** Why a Service is not announced by this speaker (null from shouldAnnounce means "announce"). */
export type AnnounceReason =
  /** The Service has no VIP yet. */
  | 'noIPs'
  /** The pool is announced by the other protocol. */
  | 'protocolMismatch'
  /** No ready endpoint anywhere. */
  | 'noEndpoints'
  /** externalTrafficPolicy Local and no ready endpoint on this node. */
  | 'noLocalEndpoints'
  /** This node does not match the pool's / peers' node selectors. */
  | 'nodeNotSelected'
  /** No L2Advertisement or BGPAdvertisement selects the pool: its addresses are allocated, not announced (MetalLB). */
  | 'notAdvertised'
  /** This speaker's own Lease is not (yet) seen as live, so others do not count it either. */
  | 'notLive'
  /** Another live, eligible speaker ranks first for this Service. */
  | 'notOwner'
  /** This speaker could not renew its Lease within the lease duration (layer2 self-fencing). */
  | 'fenced'
  /** Layer2, back from a cut: its view of the holders may be older than the reconnection, so it claims nothing new yet (claim-gate.ts). */
  | 'viewStale'
  /** Layer2 with liveness: the node that owns the VIP without this one has not answered it yet (it may not count it): wait (liveness-gate.ts, claims). */
  | 'awaitingPeer';

/** Why a balancer is withdrawn: a decision reason, or something that removed the Service itself. */
export type WithdrawReason = AnnounceReason | 'serviceDeleted' | 'poolRemoved' | 'shutdown';

export interface Announcer {
  readonly protocol: Protocol;
  /** Apply a new config, already accepted by the rule the controller shares (allocator/config-verdict.ts): an announcer never refuses one on its own, or the daemons would run different configs. */
  setConfig(config: Config): void;
  /** null: announce `ips` of `service` from this node; otherwise the reason not to. */
  shouldAnnounce(
    service: ServiceView,
    ips: readonly string[],
    pool: AddressPool,
    endpoints: EndpointsView,
  ): AnnounceReason | null;
  /** Start (or update) announcing `ips` for the balancer `name` (the Service key). Idempotent. */
  setBalancer(name: string, ips: readonly string[], pool: AddressPool): void;
  /** Stop announcing the balancer `name`; a no-op when it is not announced. */
  deleteBalancer(name: string, reason: WithdrawReason): void;
}

export type AnnouncerCall =
  | { op: 'setConfig'; config: Config }
  | { op: 'shouldAnnounce'; service: string; ips: readonly string[]; pool: string; result: AnnounceReason | null }
  | { op: 'setBalancer'; name: string; ips: readonly string[]; pool: string }
  | { op: 'deleteBalancer'; name: string; reason: WithdrawReason };

export type AnnounceDecider = (
  service: ServiceView,
  ips: readonly string[],
  pool: AddressPool,
  endpoints: EndpointsView,
) => AnnounceReason | null;

export interface RecordingAnnouncerOptions {
  /** The decision to record; default: announce everything that has IPs and the right protocol. */
  decide?: AnnounceDecider;
  /** Called on every call, e.g. to stream decisions out of a speaker process under test. */
  onCall?: (call: AnnouncerCall) => void;
  /** Keep every call in `calls` (default true); a long-running process streaming through onCall turns it off. */
  keepCalls?: boolean;
}

/** A test double: records every call and keeps the set of balancers currently announced. */
export class RecordingAnnouncer implements Announcer {
  readonly protocol: Protocol;
  readonly calls: AnnouncerCall[] = [];
  private config: Config | undefined;
  private readonly balancers = new Map<string, { ips: readonly string[]; pool: string }>();
  private readonly decide: AnnounceDecider;
  private readonly onCall: ((call: AnnouncerCall) => void) | undefined;
  private readonly keepCalls: boolean;

  constructor(protocol: Protocol, options: RecordingAnnouncerOptions = {}) {
    this.protocol = protocol;
    this.decide =
      options.decide ??
      ((_service, ips, pool) => {
        if (ips.length === 0) return 'noIPs';
        return pool.protocol === this.protocol ? null : 'protocolMismatch';
      });
    this.onCall = options.onCall;
    this.keepCalls = options.keepCalls ?? true;
  }

  setConfig(config: Config): void {
    this.config = config;
    this.record({ op: 'setConfig', config });
  }

  shouldAnnounce(
    service: ServiceView,
    ips: readonly string[],
    pool: AddressPool,
    endpoints: EndpointsView,
  ): AnnounceReason | null {
    const result = this.decide(service, ips, pool, endpoints);
    this.record({ op: 'shouldAnnounce', service: service.key, ips: [...ips], pool: pool.name, result });
    return result;
  }

  setBalancer(name: string, ips: readonly string[], pool: AddressPool): void {
    this.balancers.set(name, { ips: [...ips], pool: pool.name });
    this.record({ op: 'setBalancer', name, ips: [...ips], pool: pool.name });
  }

  deleteBalancer(name: string, reason: WithdrawReason): void {
    this.balancers.delete(name);
    this.record({ op: 'deleteBalancer', name, reason });
  }

  /** The config last given to setConfig. */
  currentConfig(): Config | undefined {
    return this.config;
  }

  /** Balancers announced now (name -> IPs and pool), in insertion order. */
  announced(): ReadonlyMap<string, { ips: readonly string[]; pool: string }> {
    return this.balancers;
  }

  isAnnounced(name: string): boolean {
    return this.balancers.has(name);
  }

  private record(call: AnnouncerCall): void {
    if (this.keepCalls) this.calls.push(call);
    this.onCall?.(call);
  }
}
