// The speaker daemon: informers (Services, endpoints, own Node, ConfigMap, speaker Leases) ->
// membership + fencing -> per-Service decisions (layer2 owner / BGP) -> the two announcers. The
// decisions are the pure functions of layer2-owner.ts and bgp-advertisements.ts; this file only
// wires them to the API server, the announcers, the metrics, the Events and the logs.
//
// Scheduling: Service keys are marked dirty by informer events and decided in batches of at most
// DECIDE_PER_TURN per event-loop turn (dirty-keys.ts); a change of the live set, of fencing or of the
// config marks every Service dirty. Decisions are cheap (no I/O), but 10,000s of them in one turn
// held the loop past the Lease duration: between batches the Lease renewals and answers run.
import type { V1Lease, V1Node } from '@kubernetes/client-node';
import type { KubeAccess } from '../kube/access.js';
import type { AddressPool, Config, Protocol } from '../config/model.js';
import { evaluateInput, inputText, refusalEvents, type ConfigSourceKind, type VerdictEvent } from '../allocator/config-verdict.js';
import { ConfigSource, describeChange, describeResources } from '../kube/config-source.js';
import type { HeldAddresses } from '../allocator/config-check.js';
import { decodeObject } from '../kube/decode.js';
import { ServiceEndpointsInformer } from '../kube/endpoints.js';
import { EventRecorder, type EventType } from '../kube/events.js';
import { Informer, OBJECT_KEY, objectKey } from '../kube/informer.js';
import { leaseInformer } from '../kube/informers.js';
import type { Logger } from '../kube/log.js';
import { startMetricsServer, type MetricsServer } from '../kube/metrics-server.js';
import { apiRetry } from '../kube/api-retry.js';
import { yieldToTimers } from '../kube/clock.js';
import { systemClock, type Clock } from '../protocols/clock.js';
import { AnnouncementTracker, type AnnouncementChange } from './announcement-tracker.js';
import { configStateOf } from '../allocator/config-state.js';
import { ConfigurationStateWriter } from '../kube/configuration-state.js';
import { ServiceStatusObjects, type PodRef } from './service-status-objects.js';
import { matchesNode } from '../config/selectors.js';
import type { AnnounceDecider, Announcer } from './announcer.js';
import { bgpDecision } from './bgp-advertisements.js';
import { EventPacer } from './event-pacer.js';
import { ClaimGate, type ClaimGateChange } from './claim-gate.js';
import { Fencing, type FencingState, type LateRenewal } from './fencing.js';
import { layer2Decision, layer2TakeoverFrom, RankingCache, type Layer2Self } from './layer2-owner.js';
import { Layer2Holders } from './layer2-holders.js';
import { Membership, type JudgementChange, type MembershipChange } from './membership.js';
import { SpeakerMetrics } from './metrics.js';
import { LivenessGate } from './liveness-gate.js';
import { VERSION as LIVENESS_VERSION } from '../protocols/liveness/message.js';
import { Swim } from '../protocols/liveness/swim.js';
import { LivenessTransport } from '../protocols/liveness/transport.js';
import { EXCLUDE_NODE_LABEL, leaseExcluded, nodeExcluded } from './node-exclusion.js';
import { leaseNodeLabels } from './node-labels.js';
import { bgpSelects, layer2Selects, poolAnnounced } from '../config/advertisement-scope.js';
import { poolOfService } from './pool-lookup.js';
import { DirtyKeys } from './dirty-keys.js';
import { WithdrawalLog, withdrawInTurns } from './withdrawals.js';
import { decodeSpeakerService, handled, heldOf, SpeakerService } from './service-decode.js';
import { endpointsView, type ServiceView } from './service-view.js';
import { LIVENESS_ANNOTATION, leaseHasHeartbeat, leaseLivenessWire, SPEAKER_LEASE_LABEL, SPEAKER_LEASE_LABEL_VALUE, SPEAKER_LEASE_PREFIX, SpeakerLease } from './speaker-lease.js';

/** An announcer as the daemon drives it: the protocol interface plus optional daemon hooks. */
export interface DaemonAnnouncer extends Announcer {
  /** This node's labels changed (BGP re-evaluates which peers select it). */
  nodeLabelsChanged?(labels: Record<string, string>): void;
  /** Graceful shutdown of the protocol (BGP: withdraw, or keep with graceful restart). Without it the daemon withdraws every balancer. */
  shutdown?(): Promise<void>;
  /** Layer2: the interfaces it answers a Service's VIPs on now (for ServiceL2Status). */
  interfaces?(service: string): readonly string[];
  /** Start protocol work (sockets, sessions); called once the daemon starts. */
  start?(): void;
  /** Release sockets and timers, after shutdown. */
  close?(): void;
}

/** Lets an announcer raise an Event on a Service by key (`namespace/name`), paced like the daemon's own. */
export type ServiceEventSink = (service: string, type: EventType, reason: string, action: string, note: string) => void;

export interface SpeakerAnnouncers {
  layer2: DaemonAnnouncer;
  bgp: DaemonAnnouncer;
}

/** What the daemon hands its announcers: the decisions, the per-answer check and the Event sink. */
export interface SpeakerDeciders {
  layer2: AnnounceDecider;
  bgp: AnnounceDecider;
  /** Layer2: may this speaker answer for its VIPs right now (checked per answer; default yes). */
  mayAnswer?: () => boolean;
  serviceEvent?: ServiceEventSink;
}

/** Lease renewal interval while without the liveness quorum (README: the split-brain bound). */
export const LIVENESS_FAST_RENEW_MS = 1000;

/**
 * About this many bytes of JSON per later page of the speaker's lists of 10,000s of objects (Services,
 * EndpointSlices, ServiceL2Status; list-pages.ts), not the 8 MB the controller's restart is sized by:
 * the speaker's bound is memory, and an 8 MB answer (string, parse, buffers) left its RSS at 10,000
 * Services 92 MB, against 78 with pages of ~500 objects (measured, under load). Pages of ~500
 * Services: at 100,000 its lists walk more of etcd's keys (list-pages.ts), a start's cost, once.
 */
export const SPEAKER_PAGE_BYTES = 512 * 1024;

export interface SpeakerOptions {
  kubeConfig: KubeAccess;
  node: string;
  /** Namespace of the ConfigMap and of the speaker Leases. */
  namespace: string;
  configMap: string;
  /** Where the config comes from (default configmap): the ConfigMap, or the metallb.io objects of `namespace`. */
  configSource?: ConfigSourceKind;
  /** Watch Services (and endpoints) of this namespace only (default: all). */
  servicesNamespace?: string;
  /** Handle Services with this spec.loadBalancerClass (default: only those without one). */
  lbClass?: string;
  leaseRenewMs: number;
  leaseDurationMs: number;
  /** Speaker-to-speaker liveness (protocols/liveness): off when absent. */
  liveness?: { address: string; port: number; secret: Buffer; periodMs: number; probeTimeoutMs: number; suspicionMs: number };
  metricsAddress?: string;
  logger: Logger;
  metrics?: SpeakerMetrics;
  clock?: Clock;
  /** Write ServiceL2Status / ServiceBGPStatus objects for the Services this node announces (default true). */
  serviceStatus?: boolean;
  /**
   * The holders tier of layer2 ownership (speaker/layer2-owner.ts), read from the ServiceL2Status
   * objects (needs serviceStatus): a node that took a Service over from a failed owner keeps it.
   */
  layer2Holders?: boolean;
  /** The speaker Pod (owner of those objects), when running in one. */
  pod?: PodRef;
  /** Write the ConfigurationState object `speaker-<node>` (default true). */
  configurationState?: boolean;
  /** Builds the announcers around the daemon's decisions (the real protocols, or recording ones in tests). */
  announcers: (deciders: SpeakerDeciders) => SpeakerAnnouncers;
}

/** A Service Event waiting for the pacer: data, not a closure (10,000s are pending after a restart). */
interface PendingEvent {
  /** Its key in the pacer: "namespace/name/reason" (one pending per Service and reason). */
  key: string;
  /** The Service's identity (a SpeakerService has these fields itself). */
  md: { name?: string; namespace?: string; uid?: string };
  type: EventType;
  reason: string;
  action: string;
  note: string;
}

/**
 * What waits in the pacer: an Event, or for the one every owned Service gets after a start
 * (nodeAssigned) just the cached Service itself: no object and no key string of its own (10,000
 * pending for 500 s at 10,000 Services: ~110 bytes each).
 */
type Pending = PendingEvent | SpeakerService;

const REPORTER = 'herald.io/speaker';
/** Services decided per event-loop turn at most (each ~10-100 us; a turn stays well under the 1 s renew interval). */
export const DECIDE_PER_TURN = 500;
/** A run of decisions lasting longer logs its withdrawals so far (speaker/withdrawals.ts) rather than at its end. */
const WITHDRAWALS_LOGGED_AFTER_MS = 5000;
const PROTOCOLS: readonly Protocol[] = ['layer2', 'bgp'];

/** A speaker Lease's acquireTime (when that speaker's current life began), ms since the epoch. */
function leaseAcquired(lease: V1Lease): number | undefined {
  const t: unknown = lease.spec?.acquireTime;
  const ms = typeof t === 'string' ? Date.parse(t) : t instanceof Date ? t.getTime() : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

export class Speaker {
  readonly metrics: SpeakerMetrics;
  readonly membership: Membership;
  readonly fencing: Fencing;
  readonly announcers: SpeakerAnnouncers;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly services: Informer<SpeakerService>;
  private readonly nodes: Informer<V1Node>;
  private readonly source: ConfigSource;
  private readonly leases: Informer<V1Lease>;
  private endpoints: ServiceEndpointsInformer | undefined;
  /** The membership Lease herald-speaker-<node> (watched by every speaker). */
  private readonly lease: SpeakerLease;
  /** With liveness: the heartbeat Lease herald-heartbeat-<node> (self-fencing; watched by none). */
  private readonly heartbeat: SpeakerLease | undefined;
  /** A heartbeat renewal failed since the last success: write the membership Lease once on the next (membership.ts: judging resumes when we see it). */
  private heartbeatFailed = false;
  private readonly ranking = new RankingCache();
  private readonly gate: LivenessGate;
  private swim: Swim | undefined;
  private transport: LivenessTransport | undefined;
  private readonly trackers: Record<Protocol, AnnouncementTracker>;
  private recorder: EventRecorder | undefined;
  private readonly pacer: EventPacer<Pending>;
  /** The note of every nodeAssigned Event: one string, not one per pending Event. */
  private readonly assignedNote: string;
  /** The ConfigurationState `speaker-<node>`, from each config verdict. */
  private readonly state: ConfigurationStateWriter | undefined;
  /** The ServiceL2Status / ServiceBGPStatus objects of this node. */
  private readonly statusObjects: ServiceStatusObjects | undefined;
  /** Every speaker's ServiceL2Status objects: who holds which Service (the layer2 owner's first tier). */
  private readonly holders: Layer2Holders | undefined;
  /** With the holders: after a cut, no new layer2 claim until the holders and Leases are listed again (claim-gate.ts). */
  private readonly claimGate: ClaimGate | undefined;
  /** The layer2 Services this node announces that it took over from a failed node, and from which (layer2TakeoverFrom). */
  private readonly tookOver = new Map<string, string>();
  private server: MetricsServer | undefined;
  private config: Config | undefined;
  /** The config in force's hash (configHash: the same in every daemon running the same config). */
  private hash: string | undefined;
  private appliedText: string | undefined;
  /** The refused ConfigMap's note; `keys`: the Services a breaking one would break (a change to one re-checks it). */
  private refused: { note: string; keys: ReadonlySet<string> } | undefined;
  private nodeLabels: Record<string, string> = {};
  /** Nodes whose speaker Lease says they are excluded from load balancing (this node too: node-exclusion.ts). */
  private readonly excludedNodes = new Set<string>();
  /** Each speaker's node labels as its Lease publishes them (node-labels.ts): the layer2 node selectors' input. */
  private readonly leaseLabels = new Map<string, Record<string, string>>();
  private readonly dirty = new DirtyKeys();
  /** The withdrawals of the current run of decisions, logged when it ends. */
  private readonly withdrawals: WithdrawalLog;
  private recheckConfig = false;
  private flushScheduled = false;
  /** The status objects are compared with what is announced once this speaker counts itself live (its decisions settled). */
  private statusStarted = false;
  private synced = false;
  /** Ends the count of 429s (herald_k8s_api_throttled_total). */
  private stopThrottleCount: (() => void) | undefined;
  private stopping = false;
  /** Ends start-up retries (an API server unreachable at start) when the speaker stops. */
  private readonly startAbort = new AbortController();

  constructor(private readonly opts: SpeakerOptions) {
    this.log = opts.logger;
    this.withdrawals = new WithdrawalLog(opts.logger);
    this.clock = opts.clock ?? systemClock;
    this.metrics = opts.metrics ?? new SpeakerMetrics({ node: opts.node });
    this.membership = new Membership({ clock: this.clock, leaseDurationMs: opts.leaseDurationMs, self: opts.node, renewMs: opts.leaseRenewMs });
    // Events wait for the first healthy Lease renewal, and pause whenever renewals are slow or failing.
    this.pacer = new EventPacer<Pending>({ clock: this.clock, paused: true, send: (p) => this.sendEvent(p), keyOf: (p) => (p instanceof SpeakerService ? objectKey(p) : p.key) });
    this.assignedNote = `announcing from node "${opts.node}" with protocol "layer2"`;
    this.fencing = new Fencing({ clock: this.clock, leaseDurationMs: opts.leaseDurationMs });
    // A claim waits for the peer it would take the VIP from at most a period and a suspicion time (liveness-gate.ts, claims).
    this.gate = new LivenessGate(this.clock, opts.node, opts.liveness ? { claimHoldMs: opts.liveness.periodMs + opts.liveness.suspicionMs, askEveryMs: opts.liveness.periodMs } : {});
    const self = opts.node;
    this.announcers = opts.announcers({
      layer2: (service, _ips, pool, endpoints) => {
        if (pool.protocol !== 'layer2') return 'protocolMismatch';
        if (!poolAnnounced(pool)) return 'notAdvertised';
        return layer2Decision(service, endpoints, this.layer2State(pool));
      },
      bgp: (service, _ips, pool, endpoints) => {
        if (pool.protocol !== 'bgp') return 'protocolMismatch';
        if (!poolAnnounced(pool)) return 'notAdvertised';
        // Only this node's own labels matter here: each node decides for itself, no owner to agree on.
        if (this.excludedNodes.has(self) || !bgpSelects(pool, this.nodeLabels)) return 'nodeNotSelected';
        return bgpDecision(service, endpoints, self);
      },
      // Asked before every ARP/NDP answer and gratuitous frame: a stall shows here first (liveness-gate.ts).
      mayAnswer: () => !this.fencing.isFenced() && !this.gate.isFenced(),
      serviceEvent: (key, type, reason, action, note) => {
        const svc = this.services.get(key);
        if (svc) this.event(svc, type, reason, action, note);
      },
    });
    this.trackers = { layer2: new AnnouncementTracker(this.announcers.layer2), bgp: new AnnouncementTracker(this.announcers.bgp) };
    this.metrics.readAnnouncedFrom({ layer2: this.trackers.layer2.announcedIps, bgp: this.trackers.bgp.announcedIps });
    const kc = opts.kubeConfig;
    const ns = opts.servicesNamespace;
    this.services = new Informer<SpeakerService>({
      kubeConfig: kc,
      path: ns ? `/api/v1/namespaces/${encodeURIComponent(ns)}/services` : '/api/v1/services',
      decode: decodeSpeakerService,
      pageBytes: SPEAKER_PAGE_BYTES,
      name: 'services',
    });
    // Only our own Node: its labels select BGP peers.
    this.nodes = new Informer<V1Node>({
      kubeConfig: kc,
      path: '/api/v1/nodes',
      fieldSelector: `metadata.name=${self}`,
      decode: decodeObject<V1Node>,
      name: `node ${self}`,
    });
    this.source = new ConfigSource({
      kubeConfig: kc,
      namespace: opts.namespace,
      configMap: opts.configMap,
      source: opts.configSource ?? 'configmap',
      retry: apiRetry(this.log, this.metrics, 'discovering the metallb.io CRDs', this.startAbort.signal),
    });
    if (opts.configurationState ?? true) {
      this.state = new ConfigurationStateWriter({
        kubeConfig: kc,
        namespace: opts.namespace,
        name: `speaker-${self}`,
        component: 'speaker',
        node: self,
        clock: this.clock,
        onError: (err) => {
          this.metrics.k8sApiErrors.inc({ operation: 'configuration_state' });
          this.log.warn({ event: 'configurationStateFailed', err }, 'writing the ConfigurationState failed; retrying');
        },
        onSynced: (state, wrote) => this.log.info({ event: 'configurationState', config: state.configHash, reason: `${state.result} ${state.reason}: ${wrote ? 'written' : 'already stored'}` }, `ConfigurationState ${wrote ? 'written' : 'unchanged'}: ${state.result}`),
        onUnavailable: () => this.log.info({ event: 'configurationStateUnavailable' }, 'the metallb.io ConfigurationState kind is not served (CRDs not installed): the config verdict is in the logs only'),
      });
    }
    if (opts.serviceStatus ?? true) {
      this.statusObjects = new ServiceStatusObjects({
        kubeConfig: kc,
        namespace: opts.namespace,
        node: self,
        clock: this.clock,
        pod: opts.pod,
        life: () => this.lease.lifeStartedAt,
        paused: true,
        serviceKey: (key) => this.services.get(key)?.[OBJECT_KEY],
        onError: (err) => {
          this.metrics.k8sApiErrors.inc({ operation: 'service_status' });
          this.log.warn({ event: 'serviceStatusFailed', err }, 'writing a ServiceL2Status/ServiceBGPStatus failed; retrying');
        },
        onListed: (stored) => this.log.info({ event: 'serviceStatusListed', reason: `${stored} objects` }, `${stored} ServiceL2Status/ServiceBGPStatus objects of this node stored; writing only differences`),
        onUnavailable: (kind) => this.log.info({ event: 'serviceStatusUnavailable', reason: kind }, `the metallb.io ${kind} kind is not served (CRDs not installed): no ${kind} objects`),
      });
      if (opts.layer2Holders) this.claimGate = new ClaimGate({ clock: this.clock });
      if (opts.layer2Holders) this.holders = new Layer2Holders({
        kubeConfig: kc,
        namespace: opts.namespace,
        onChange: (service) => this.markDirty(service),
        serviceKey: (key) => this.services.get(key)?.[OBJECT_KEY],
        pageBytes: SPEAKER_PAGE_BYTES,
        onUnavailable: (status) => {
          this.claimGate?.unavailable();
          this.log.warn(
            { event: 'layer2HoldersUnavailable', reason: status === 404 ? 'not served' : 'forbidden' },
            `ServiceL2Status ${status === 404 ? 'is not served (CRDs not installed)' : 'cannot be listed and watched (RBAC)'}: layer2 ownership falls back to the seniority rule (a Service older than every speaker can move back to a returning node)`,
          );
        },
        onError: (err) => {
          this.metrics.k8sApiErrors.inc({ operation: 'list_watch' });
          this.log.warn({ event: 'watchError', err }, 'list/watch of ServiceL2Status failed; retrying');
        },
      });
    }
    this.leases = leaseInformer(kc, opts.namespace, { labelSelector: `${SPEAKER_LEASE_LABEL}=${SPEAKER_LEASE_LABEL_VALUE}` });
    this.lease = new SpeakerLease({
      kubeConfig: kc,
      namespace: opts.namespace,
      node: self,
      clock: this.clock,
      renewMs: opts.leaseRenewMs,
      // Without the liveness quorum the speaker renews fast: a renewal sent after the loss vouches for it sooner.
      fastRenewMs: Math.min(opts.leaseRenewMs, LIVENESS_FAST_RENEW_MS),
      leaseDurationMs: opts.leaseDurationMs,
      livenessAddress: opts.liveness ? `${opts.liveness.address.includes(':') ? `[${opts.liveness.address}]` : opts.liveness.address}:${opts.liveness.port}` : undefined,
      livenessWire: opts.liveness ? LIVENESS_VERSION : undefined,
      // With liveness: written on changes only (and fast without quorum) once no peer needs periodic renewals (updatePeriodic).
      advertiseHeartbeat: opts.liveness !== undefined,
      periodic: opts.liveness === undefined,
      onRenewed: (sentAt) => {
        this.fencing.renewSucceeded(sentAt);
        const wasFenced = this.gate.isFencedByVerdict();
        // Vouched for after a quorum loss: first ask the peers whether they declared us dead (a
        // healed link may bring this renewal before their answers); silent until they answered.
        if (this.gate.vouches(sentAt)) this.swim?.recheck();
        this.gate.renewed(sentAt);
        if (wasFenced && !this.gate.isFencedByVerdict()) this.markAll();
      },
      // Events follow the periodic Lease's health: the heartbeat's when there is one.
      onHealth: opts.liveness ? undefined : (healthy) => this.leaseHealth(healthy),
      onFailed: (err) => this.leaseFailed(err, 'speaker Lease'),
    });
    if (opts.liveness) {
      this.heartbeat = new SpeakerLease({
        kubeConfig: kc,
        namespace: opts.namespace,
        node: self,
        clock: this.clock,
        heartbeat: true,
        renewMs: opts.leaseRenewMs,
        leaseDurationMs: opts.leaseDurationMs,
        onRenewed: (sentAt) => {
          // An older peer expires us by our membership Lease: then only its renewals may keep us unfenced.
          if (this.membership.periodicPeers() === 0) this.fencing.renewSucceeded(sentAt);
          if (this.heartbeatFailed) this.lease.touch();
          this.heartbeatFailed = false;
        },
        onHealth: (healthy) => this.leaseHealth(healthy),
        onFailed: (err) => {
          this.heartbeatFailed = true;
          this.leaseFailed(err, 'heartbeat Lease');
        },
      });
    }
  }

  private leaseHealth(healthy: boolean): void {
    this.pacer.setPaused(!healthy);
    this.statusObjects?.setPaused(!healthy);
  }

  private leaseFailed(err: unknown, what: string): void {
    this.metrics.leaseRenewFailures.inc();
    this.fencing.renewFailed(err);
    this.membership.selfRenewFailed();
    const { count } = this.fencing.failuresSinceSuccess();
    // The first failure and every tenth: a long outage must not flood the log.
    if (count === 1 || count % 10 === 0) this.log.warn({ event: 'leaseRenewFailed', reason: `${count} failures in a row`, err }, `renewing the ${what} failed`);
  }

  /** With liveness: renew the membership Lease periodically only while an older speaker (which expires silent Leases) is live. */
  private updatePeriodic(): void {
    if (!this.heartbeat) return;
    const periodic = this.membership.periodicPeers() > 0;
    if (periodic === this.lease.isPeriodic) return;
    this.lease.setPeriodic(periodic);
    this.log.info(
      { event: periodic ? 'leasePeriodic' : 'leaseOnChange', reason: `${this.membership.periodicPeers()} peers renewing periodically` },
      periodic ? 'a speaker that expires silent Leases is live: renewing the speaker Lease every renew interval too' : 'every speaker reads heartbeat Leases: the speaker Lease is written on changes only',
    );
  }

  /** What this speaker's layer2 decisions (and its takeover verdicts) read, for a Service of `pool`. */
  private layer2State(pool: AddressPool): Layer2Self {
    return {
      self: this.opts.node,
      fenced: this.fencing.isFenced() || this.gate.isFencedByVerdict(),
      liveSpeakers: this.gate.owners(this.membership.liveSet()),
      joinedAt: (node) => this.membership.joinedAt(node),
      selfJoinedAt: this.lease.lifeStartedAt,
      holders: this.holders ? (svc) => this.holders?.of(svc.key) : undefined,
      claimsGated: this.claimGate?.gated ?? false,
      announcing: (key) => this.trackers.layer2.isAnnounced(key),
      // With liveness: a claim waits until the node that would own the VIP without this one counts it (liveness-gate.ts).
      mayClaimFrom: this.swim ? (node) => this.gate.mayClaimFrom(node) : undefined,
      // Nodes excluded from load balancing never own a VIP; the others when an L2Advertisement of
      // the pool selects them (ConfigMap: every node). Both from the speakers' Leases, so every
      // speaker sees the same labels of every node (node-labels.ts).
      nodeSelected: (node) => !this.excludedNodes.has(node) && layer2Selects(pool, this.leaseLabels.get(node) ?? {}),
      ranking: this.ranking,
    };
  }

  get metricsUrl(): string | undefined {
    return this.server?.url;
  }

  /** Lease writes sent by this speaker so far. */
  get leaseWrites(): number {
    return this.lease.writes + (this.heartbeat?.writes ?? 0);
  }

  ready(): true | string {
    return this.synced ? true : 'informers not synced';
  }

  async start(): Promise<void> {
    const kc = this.opts.kubeConfig;
    // The HTTP endpoint first: /healthz must answer while the API server is unreachable (a liveness
    // probe would restart us); only a bad --metrics-address ends the start here.
    if (this.opts.metricsAddress !== undefined) {
      this.server = await startMetricsServer({ address: this.opts.metricsAddress, registry: this.metrics.registry, ready: () => this.ready() });
      this.log.info({ event: 'metricsListening', reason: this.server.url }, `metrics on ${this.server.url}`);
    }
    this.stopThrottleCount = this.metrics.countThrottled(kc);
    // Renew first: the other speakers count us as soon as possible.
    if (this.opts.liveness) await this.startLiveness(this.opts.liveness);
    this.lease.start();
    this.heartbeat?.start();
    for (const p of PROTOCOLS) this.announcers[p].start?.();
    this.fencing.onChange((s) => this.onFencing(s));
    this.fencing.onLate((l) => this.onLateRenewal(l));
    this.claimGate?.onChange((c) => this.onClaimGate(c));
    this.membership.onChange((c) => this.onMembership(c));
    this.membership.onJudgementChange((c) => this.onJudgement(c));
    if (this.opts.leaseDurationMs < 2.5 * this.opts.leaseRenewMs) {
      this.log.warn(
        { event: 'leaseTiming', reason: `lease duration ${this.opts.leaseDurationMs} ms < 2.5 x renew ${this.opts.leaseRenewMs} ms` },
        'an API server that hangs requests may look like peers dying before this speaker notices it cannot renew; use a lease duration of at least 2.5 x the renew interval',
      );
    }
    try {
      this.recorder = await EventRecorder.create(kc, {
        reportingController: REPORTER,
        reportingInstance: this.opts.node,
        retry: apiRetry(this.log, this.metrics, 'discovering the Events API', this.startAbort.signal),
        onError: (err) => {
          this.metrics.k8sApiErrors.inc({ operation: 'event_write' });
          this.log.warn({ event: 'eventWriteFailed', err }, 'writing an Event failed');
        },
      });
      this.endpoints = await ServiceEndpointsInformer.create(kc, {
        namespace: this.opts.servicesNamespace,
        pageBytes: SPEAKER_PAGE_BYTES,
        serviceKey: (key) => this.services.get(key)?.[OBJECT_KEY],
        retry: apiRetry(this.log, this.metrics, 'discovering the endpoints API', this.startAbort.signal),
      });
    } catch (err) {
      if (this.stopping) return; // stopped while the API server was unreachable
      throw err;
    }
    for (const inf of [this.services, this.nodes, this.leases, this.endpoints.informer]) this.metrics.watchInformer(inf);
    const onService = (svc: SpeakerService): void => {
      const key = objectKey(svc);
      this.markDirty(key);
      // The config rule reads the statuses: a refused config may fit once a Service it breaks changes.
      if (this.refused?.keys.has(key)) this.recheckConfig = true;
    };
    // The ranking cache forgets a first VIP when its Service drops or changes it (a forgotten
    // shared VIP is only re-hashed), read from the informer's old object rather than kept per Service.
    const forgetFirstVip = (...svcs: (SpeakerService | undefined)[]): void => {
      for (const svc of svcs) if (svc?.ips[0] !== undefined) this.ranking.forgetVip(svc.ips[0]);
    };
    this.services.on('add', onService);
    this.services.on('update', (svc, old) => {
      if (old && old.ips[0] !== svc.ips[0]) forgetFirstVip(old);
      onService(svc);
    });
    this.services.on('delete', (svc, old) => {
      forgetFirstVip(svc, old);
      onService(svc);
    });
    this.endpoints.on('change', (key) => this.markDirty(key));
    const onNode = (node: V1Node): void => {
      this.setNodeLabels(node.metadata?.labels ?? {});
      // Our Leases belong to our Node: deleted with it (garbage collector).
      this.lease.setOwnerNode(node.metadata?.uid);
      this.heartbeat?.setOwnerNode(node.metadata?.uid);
    };
    this.nodes.on('add', onNode).on('update', onNode).on('delete', () => this.setNodeLabels({}));
    const onConfig = (): void => {
      this.metrics.k8sUpdates.inc();
      if (this.synced) this.reloadConfig();
    };
    this.source.onChange(onConfig);
    const onLease = (lease: V1Lease): void => {
      const name = lease.metadata?.name ?? '';
      if (!name.startsWith(SPEAKER_LEASE_PREFIX)) return;
      const node = name.slice(SPEAKER_LEASE_PREFIX.length);
      this.setExcluded(node, leaseExcluded(lease.metadata?.labels));
      this.setLeaseLabels(node, leaseNodeLabels(lease.metadata?.annotations));
      const peer = /^\[?([^\]]+)\]?:(\d+)$/.exec(lease.metadata?.annotations?.[LIVENESS_ANNOTATION] ?? '');
      const joinedAt = leaseAcquired(lease);
      if (peer) this.transport?.setPeer(node, peer[1] as string, Number(peer[2]), leaseLivenessWire(lease.metadata?.annotations, joinedAt));
      if (this.gate.leaseChanged(node, joinedAt)) {
        this.membership.setVerdict(node, false);
        this.log.info({ event: 'livenessVerdictEnded', reason: node }, `speaker ${node} is back per its Lease`);
        this.markAll();
      }
      this.membership.observe(node, lease.metadata?.resourceVersion ?? '', joinedAt, leaseHasHeartbeat(lease.metadata?.annotations, joinedAt));
      this.updatePeriodic();
    };
    this.leases.on('add', onLease).on('update', onLease);
    this.leases.on('delete', (lease) => {
      const name = lease.metadata?.name ?? '';
      if (!name.startsWith(SPEAKER_LEASE_PREFIX)) return;
      const node = name.slice(SPEAKER_LEASE_PREFIX.length);
      this.setExcluded(node, false);
      this.setLeaseLabels(node, undefined);
      this.membership.remove(node);
      this.updatePeriodic();
    });
    const onWatchError = (err: Error): void => {
      this.metrics.k8sApiErrors.inc({ operation: 'list_watch' });
      this.log.warn({ event: 'watchError', err }, 'list/watch failed; retrying');
    };
    for (const inf of [this.services, this.nodes, this.leases]) inf.on('error', onWatchError);
    this.endpoints.onError(onWatchError);
    this.source.onError(onWatchError);
    // CRDs installed or deleted while running (kube/config-source.ts rediscovers): said as at start.
    this.source.onResources((change) => {
      for (const inf of this.source.informers()) this.metrics.watchInformer(inf);
      this.log.info({ event: 'configSource', reason: describeResources(this.source.resources) }, `config source: ${this.source.describe()}; metallb.io kinds ${describeChange(change)}`);
    });
    try {
      // The holders before any decision: a restarted speaker deciding without them would take back what the others hold.
      await Promise.all([this.services.start(), this.nodes.start(), this.source.start(), this.leases.start(), this.endpoints.start(), this.holders?.start()]);
    } catch (err) {
      if (this.stopping) return; // stopped while discovery was retrying
      throw err;
    }
    // The last list's handlers ran in this turn; the config check over every Service is another long one: a renewal due goes first.
    await yieldToTimers();
    if (this.stopping) return;
    // Slices and holdings listed before their Services keep a copy of the key each: ours from now on
    // (those decoded later look the Service up themselves).
    const own = (key: string): string | undefined => this.services.get(key)?.[OBJECT_KEY];
    this.endpoints.shareKeys(own);
    this.holders?.shareKeys(own);
    for (const inf of this.source.informers()) this.metrics.watchInformer(inf);
    this.log.info({ event: 'configSource', reason: describeResources(this.source.resources) }, `config source: ${this.source.describe()}`);
    if (!this.nodes.get(this.opts.node)) {
      this.log.warn({ event: 'nodeMissing' }, `Node ${this.opts.node} not found: no labels, so only BGP peers without node-selectors select it`);
    }
    this.synced = true;
    this.log.info({ event: 'informersSynced', reason: `${this.services.size} Services, endpoints from ${this.endpoints.api}` }, 'informers synced');
    this.reloadConfig();
    this.markAll();
  }

  /**
   * Graceful shutdown: withdraw layer2 VIPs, shut BGP down (withdraw, or keep the routes when the
   * peer negotiated graceful restart), then delete our Lease so the next owner takes over at once.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.stopThrottleCount?.();
    this.startAbort.abort(new Error('speaker stopped'));
    // The status objects stay as they are: the next life of this speaker (or, for a deleted Pod, the
    // garbage collector) settles them; deleting them here would rewrite them all on every restart.
    this.statusObjects?.close();
    this.dirty.clear();
    // In batches with a turn between them (speaker/withdrawals.ts): at 100,000 Services one turn held the loop 31.6 s.
    const apply = (change: AnnouncementChange): void => this.applyChange(change);
    await withdrawInTurns(this.trackers.layer2, 'shutdown', apply, yieldToTimers);
    if (this.announcers.bgp.shutdown) {
      await this.announcers.bgp.shutdown();
      for (const change of this.trackers.bgp.forgetAll('shutdown')) this.metrics.withdrawn(change.service, 'bgp', change.ips);
    } else {
      await withdrawInTurns(this.trackers.bgp, 'shutdown', apply, yieldToTimers);
    }
    this.withdrawals.flush();
    this.swim?.stop();
    this.transport?.close();
    await Promise.all([this.lease.stop(), this.heartbeat?.stop()]);
    this.log.info({ event: 'leaseDeleted' }, 'speaker Lease deleted');
    for (const p of PROTOCOLS) this.announcers[p].close?.();
    this.fencing.close();
    this.claimGate?.close();
    this.membership.close();
    this.pacer.close();
    this.state?.close();
    await Promise.all([this.services.stop(), this.nodes.stop(), this.source.stop(), this.leases.stop(), this.endpoints?.stop(), this.holders?.stop()]);
    await this.recorder?.close();
    await this.server?.close();
  }

  private onFencing(state: FencingState): void {
    if (state.kind === 'fenced') {
      const { count, lastError } = this.fencing.failuresSinceSuccess();
      // How long after the deadline this runs (a loaded machine fires timers late): answers stopped at the deadline already.
      const late = Math.max(0, Math.round(this.clock.now() - state.since));
      this.log.warn({ event: 'fenced', reason: `${state.reason}, ${late} ms after the deadline`, err: lastError }, `fenced: no Lease renewal within the lease duration (${count} failures); not answering for layer2 VIPs`);
      this.lease.newLife();
      this.gate.newLife();
      this.statusObjects?.lifeChanged();
      this.claimGate?.cut('fenced');
      this.swimSilent(true);
    } else {
      this.log.info({ event: 'unfenced' }, 'Lease renewed: answering for layer2 VIPs again');
      this.reconnected();
      this.swimSilent(false);
    }
    this.markAll();
  }

  /**
   * A renewal read after the fencing deadline kept this speaker active (no new life, nothing
   * withdrawn), but the server may have written it after the others expired this speaker's Lease
   * and took its layer2 Services: as after a cut, it claims nothing it does not announce already
   * until the holders and the Leases are listed again (what it announces goes to a taker the list
   * shows: notOwner). Without the holders view there is no gate; the ranking decides as it is.
   */
  private onLateRenewal(l: LateRenewal): void {
    const late = Math.round(l.readAt - l.deadline);
    this.log.warn(
      { event: 'leaseRenewedLate', reason: `read ${late} ms after the deadline` },
      `Lease renewal read ${late} ms after the fencing deadline: the other speakers may have expired this one meanwhile${this.claimGate ? '; claiming no new layer2 Service until the holders and Leases are listed again' : ''}`,
    );
    // Decisions made between the deadline and this read saw isFenced() (the clock past the deadline)
    // and announced nothing; no fenced/active transition follows to decide them again. Without a
    // gate to reopen (--layer2-holders off, or the kind not served) they stayed unannounced until
    // something else marked them: a run of Services decided in one late turn (issue 17 follow-up).
    this.markAll();
    if (!this.claimGate) return;
    this.claimGate.cut('renewedLate');
    this.reconnected();
  }

  /**
   * A fenced speaker does not take part in the liveness protocol (it answers no ping: the others
   * declare it dead within a second and take its VIPs; README: Scale, the Lease split) and judges
   * nobody (cut off, it would declare everyone dead). Back unfenced, it starts afresh: every member
   * as just heard, its verdicts from before kept by the gate until each peer's Lease shows life.
   */
  private swimSilent(silent: boolean): void {
    const swim = this.swim;
    if (!swim) return;
    if (silent) {
      swim.stop();
      this.log.warn({ event: 'livenessSilent' }, 'fenced: not answering the liveness protocol (the other speakers declare this one dead)');
      return;
    }
    swim.setMembers([]);
    swim.setMembers(this.membership.live());
    swim.start();
  }

  /** Back in contact after a cut: list the holders and the Leases again; claims open once both are applied. */
  private reconnected(): void {
    const gate = this.claimGate;
    const request = gate?.reconnected();
    if (gate === undefined || request === undefined) return;
    void Promise.all([this.holders?.relist(), this.leases.relist()]).then(() => gate.listed(request));
  }

  private onClaimGate(c: ClaimGateChange): void {
    switch (c.to) {
      case 'cut':
        this.metrics.layer2ClaimsGated.set(1);
        return;
      case 'listing':
        this.log.info(
          { event: 'layer2ClaimsGated', reason: c.reason },
          'back in contact: claiming no layer2 Service not announced already until the ServiceL2Status objects and the Leases are listed again (the watches may still be delivering what happened during the cut)',
        );
        return;
      case 'open': {
        this.metrics.layer2ClaimsGated.set(0);
        this.metrics.layer2ClaimsGatedSeconds.inc({ outcome: c.timedOut ? 'timeout' : 'listed' }, c.gatedMs / 1000);
        const fields = { event: c.timedOut ? 'layer2ClaimGateTimeout' : 'layer2ClaimsResumed', reason: `${Math.round(c.gatedMs)} ms after the reconnection, ${Math.round(c.cutMs)} ms after the cut (${c.reason})` };
        if (c.timedOut) this.log.warn(fields, 'the ServiceL2Status objects and Leases could not be listed again in time: claiming layer2 Services on the view as it is (a returning owner may take a VIP back)');
        else this.log.info(fields, 'the ServiceL2Status objects and Leases listed again: claiming layer2 Services again');
        break;
      }
      case 'unavailable':
        this.metrics.layer2ClaimsGated.set(0);
        break;
    }
    this.markAll();
  }

  private async startLiveness(l: NonNullable<SpeakerOptions['liveness']>): Promise<void> {
    const transport = new LivenessTransport({
      secret: l.secret,
      self: this.opts.node,
      address: l.address,
      port: l.port,
      // A fenced speaker answers no liveness message: swimSilent stops the state machine, which then ignores every message.
      onMessage: (m) => this.swim?.receive(m),
      onDrop: (reason) => this.metrics.livenessDropped.inc({ reason }),
      onSendError: (err) => this.log.debug({ event: 'livenessSendFailed', err }, 'liveness send failed'),
    });
    const swim = new Swim({ clock: this.clock, self: this.opts.node, periodMs: l.periodMs, probeTimeoutMs: l.probeTimeoutMs, suspicionMs: l.suspicionMs, indirect: 2, send: (to, m) => transport.send(to, m) });
    swim.onChange((c) => {
      if (c.name === this.opts.node) {
        if (c.state !== 'dead') return;
        // The others handed our VIPs over: stop answering now, and come back as a new life, so they
        // stay where they are (the verdict on ourselves ends when our Lease shows the new life).
        if (!this.gate.declaredDead(this.opts.node, this.membership.joinedAt(this.opts.node))) return; // told again
        this.log.warn({ event: 'livenessDeclaredDead' }, 'the other speakers declared this one dead; starting a new life');
        this.lease.newLife();
        this.statusObjects?.lifeChanged();
        // The API server is likely reachable (the cut was between speakers): list again at once.
        this.claimGate?.cut('declaredDead');
        this.reconnected();
        this.markAll();
        return;
      }
      if (c.state !== 'dead') return;
      this.log.warn({ event: 'livenessDead', reason: c.name }, `speaker ${c.name} declared dead by the liveness protocol`);
      this.gate.declaredDead(c.name, this.membership.joinedAt(c.name));
      this.membership.setVerdict(c.name, true);
      this.markAll();
    });
    this.gate.setStallCheck(() => {
      swim.awake();
      return swim.stalled;
    });
    swim.onStall((stalled, gapMs) => {
      if (stalled && gapMs === 0) this.log.info({ event: 'livenessRecheck' }, 'a Lease renewal vouches for this speaker without the liveness quorum: asking every peer for its verdict first, not answering meanwhile');
      else if (stalled) this.log.warn({ event: 'livenessStall', reason: `${Math.round(gapMs)} ms` }, `this speaker did not run for ${Math.round(gapMs)} ms: not answering for layer2 VIPs until a peer answers (the others may have declared it dead meanwhile)`);
      else this.log.info({ event: 'livenessStallEnded' }, 'the peers answered (or could not): answering per the decisions again');
    });
    // Joining speakers count for no ownership until the state machine hears from them (swim.ts).
    swim.onJoining((name, joining) => {
      this.gate.setJoining(name, joining);
      this.log.info({ event: joining ? 'livenessJoining' : 'livenessJoined', reason: name }, joining ? `speaker ${name} is joining: no VIP for it until it answers the liveness protocol` : `speaker ${name} answers the liveness protocol (or left)`);
      this.markAll();
    });
    // Claims wait for the peer they would take a VIP from to have heard this speaker (liveness-gate.ts, claims).
    swim.onAnswer((name) => this.gate.answered(name));
    this.gate.setAsk((name) => void swim.ask(name));
    this.gate.onClaimWaitEnded((name, end, waitedMs) => {
      if (end === 'timedOut') this.log.info({ event: 'layer2ClaimWaitTimedOut', reason: name }, `speaker ${name} did not answer within ${Math.round(waitedMs)} ms: claiming the layer2 VIPs it would own without this speaker on the view as it is`);
      this.markAll();
    });
    swim.onQuorumChange((q) => {
      this.log.warn({ event: q ? 'livenessQuorum' : 'livenessNoQuorum' }, q ? 'liveness quorum regained' : 'liveness quorum lost: not answering for layer2 VIPs until a Lease renewal vouches for this speaker');
      this.gate.quorumChanged(q);
      this.lease.setFast(!q);
      this.markAll();
    });
    await transport.start();
    this.transport = transport;
    this.swim = swim;
    swim.setMembers(this.membership.live());
    // Started when the first renewal unfences this speaker (swimSilent), if not yet.
    if (!this.fencing.isFenced()) swim.start();
  }

  private onMembership(change: MembershipChange): void {
    if (!change.live) {
      this.gate.forget(change.node);
      this.transport?.removePeer(change.node);
    }
    // O(1) per change (a list of every member per change cost O(n) for each of n members at a mass start).
    // Joining (no VIP until it answers: swim.ts) only once the first list of Leases is in: the peers
    // met at our start are not new, and excluding them all would hand this speaker every VIP.
    if (!change.live) this.swim?.removeMember(change.node);
    else if (change.cause === 'rejoined') this.swim?.rejoin(change.node, this.synced);
    else this.swim?.addMember(change.node, this.synced);
    if (!change.live) this.updatePeriodic();
    this.log.info(
      { event: change.live ? 'speakerLive' : 'speakerGone', reason: `${change.node}: ${change.cause}` },
      `speaker ${change.node} ${change.live ? 'is live' : `is gone (${change.cause})`}; ${this.membership.liveSet().size} live`,
    );
    this.markAll();
  }

  private onJudgement(change: JudgementChange): void {
    const { state, deferred } = change;
    if (state.kind === 'frozen') {
      this.log.warn({ event: 'membershipFrozen', reason: state.reason }, `not judging other speakers (${state.reason}): a speaker that cannot renew cannot tell dead peers from an unreachable API server; peers falling due stay live`);
    } else {
      this.log.info(
        { event: 'membershipResumed', reason: deferred.length ? `deferred: ${deferred.join(', ')}` : 'none deferred' },
        `own Lease seen renewed: judging other speakers again${deferred.length ? `; ${deferred.join(', ')} get a fresh lease duration` : ''}`,
      );
    }
  }

  /** A node's exclusion as its Lease shows it: every Service is decided again when it changes. */
  private setExcluded(node: string, excluded: boolean): void {
    if (excluded === this.excludedNodes.has(node)) return;
    if (excluded) this.excludedNodes.add(node);
    else this.excludedNodes.delete(node);
    this.log.info({ event: excluded ? 'nodeExcluded' : 'nodeIncluded', node }, excluded ? `${node} is excluded from load balancing (${EXCLUDE_NODE_LABEL})` : `${node} takes part in load balancing again`);
    this.markAll();
  }

  /** A node's labels as its Lease shows them: every Service is decided again when they change (layer2 node selectors). */
  private setLeaseLabels(node: string, labels: Record<string, string> | undefined): void {
    const before = this.leaseLabels.get(node);
    if (labels === undefined ? before === undefined : before !== undefined && sameLabels(before, labels)) return;
    if (labels === undefined) this.leaseLabels.delete(node);
    else this.leaseLabels.set(node, labels);
    if (labels !== undefined) this.log.debug({ event: 'nodeLabelsSeen', node }, `labels of ${node} per its Lease`);
    this.markAll();
  }

  private setNodeLabels(labels: Record<string, string>): void {
    if (sameLabels(labels, this.nodeLabels)) return;
    this.lease.setExcluded(nodeExcluded(labels));
    this.lease.setNodeLabels(labels);
    this.nodeLabels = { ...labels };
    this.metrics.k8sUpdates.inc();
    this.log.info({ event: 'nodeLabelsChanged' }, 'node labels changed');
    this.announcers.bgp.nodeLabelsChanged?.(this.nodeLabels);
    this.announcers.layer2.nodeLabelsChanged?.(this.nodeLabels);
    // BGPAdvertisement node selectors read this node's labels.
    this.markAll();
  }

  private markDirty(key: string): void {
    this.metrics.k8sUpdates.inc();
    this.dirty.add(key);
    this.schedule();
  }

  private markAll(): void {
    this.dirty.addAll();
    this.schedule();
  }

  private schedule(): void {
    if (this.flushScheduled || this.stopping) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (!this.synced || this.stopping) return;
    // The config first: this batch then decides under the config the statuses it sees allow.
    if (this.recheckConfig) {
      this.recheckConfig = false;
      this.reloadConfig();
    }
    for (const key of this.dirty.take(DECIDE_PER_TURN, () => this.allKeys())) {
      try {
        this.syncService(key);
      } catch (err) {
        this.metrics.k8sUpdateErrors.inc();
        this.log.error({ event: 'syncFailed', service: key, err }, `deciding for ${key} failed`);
      }
    }
    // The withdrawals' log lines once the run is done (or every few seconds of a run that goes on).
    if (!this.dirty.pending || this.clock.now() - this.withdrawals.since >= WITHDRAWALS_LOGGED_AFTER_MS) this.withdrawals.flush();
    // The rest on a later turn: timers (the Lease renewal) and I/O run in between.
    if (this.dirty.pending) this.schedule();
    // Before this speaker sees its own Lease it announces nothing (notLive): comparing then would
    // delete every stored object of a restarted speaker, to write them again a moment later. Also
    // not before every Service was decided (the last batch): an undecided one looks withdrawn.
    else if (!this.statusStarted && this.statusObjects && this.membership.live().includes(this.opts.node)) {
      this.statusStarted = true;
      void this.statusObjects.start();
    }
  }

  /** Every Service to decide when all are dirty: the cached ones and those announced (deleted meanwhile: withdrawn). */
  private *allKeys(): Generator<string> {
    yield* this.services.keys();
    for (const p of PROTOCOLS) for (const [key] of this.trackers[p].entries()) yield key;
  }

  /** What the handled Services hold per their statuses: the config rule's input, as the controller sees it. */
  private *heldByStatuses(): Generator<HeldAddresses> {
    for (const svc of this.services.list()) {
      const held = heldOf(svc, this.opts.lbClass);
      if (held) yield held;
    }
  }

  private withdrawAll(key: string, reason: 'serviceDeleted' | 'noIPs' | 'poolRemoved'): void {
    for (const p of PROTOCOLS) {
      const change = this.trackers[p].remove(key, reason);
      if (change) this.applyChange(change);
    }
  }

  private syncService(dirtyKey: string): void {
    const svc = this.services.get(dirtyKey);
    if (!svc) {
      this.withdrawAll(dirtyKey, 'serviceDeleted');
      this.metrics.removeService(dirtyKey);
      return;
    }
    // The Service's own key string: the dirty key may be a copy (an EndpointSlice's or a holding's),
    // and the trackers, the announcer, the status objects and the Event queue keep the string they are
    // given (10,000 copies of it in the heap snapshot: ~310 kB).
    const key = svc[OBJECT_KEY];
    const ips = handled(svc, this.opts.lbClass) ? svc.ips : [];
    if (ips.length === 0) {
      this.withdrawAll(key, 'noIPs');
      return;
    }
    if (!this.config) return; // nothing is announced before a config is in force
    const found = poolOfService(this.config, ips);
    if (!found.pool) {
      if (this.trackers.layer2.isAnnounced(key) || this.trackers.bgp.isAnnounced(key)) this.log.warn({ event: 'noPool', service: key, ip: found.ip, reason: found.reason }, `withdrawing ${key}: ${found.reason}`);
      this.withdrawAll(key, 'poolRemoved');
      return;
    }
    const pool: AddressPool = found.pool;
    // ranked: the decoded Service keeps its ranking (replaced with its first VIP: a new object each change).
    const view: ServiceView = { key, ips, pool: pool.name, externalTrafficPolicy: svc.local ? 'Local' : 'Cluster', createdAt: svc.createdAt, ranked: svc };
    const endpoints = endpointsView(this.endpoints?.readyByNode(key) ?? new Map());
    for (const p of PROTOCOLS) {
      const tracker = this.trackers[p];
      const change = p === pool.protocol ? tracker.sync(view, pool, endpoints) : tracker.remove(key, 'protocolMismatch');
      // Whether this node takes the Service over from a failed one: decided once, as it starts announcing.
      if (change?.kind === 'assigned' && p === 'layer2' && this.holders) {
        const from = layer2TakeoverFrom(view, endpoints, this.layer2State(pool), this.membership.seenRenewing());
        if (from !== undefined) this.tookOver.set(key, from);
        else this.tookOver.delete(key);
      }
      if (change) this.applyChange(change, svc);
      // Compared with what was set before: nothing is written unless it differs.
      if (tracker.isAnnounced(key)) this.statusObjects?.set(p, key, this.announcedVia(p, key, pool), p === 'layer2' ? this.tookOver.get(key) : undefined);
    }
  }

  /**
   * Where this node announces a Service: the layer2 interfaces, or (by address) the BGP peers that
   * select this node and that an advertisement of the pool selecting this node sends it to.
   */
  private announcedVia(p: Protocol, key: string, pool: AddressPool): readonly string[] {
    if (p === 'layer2') return this.announcers.layer2.interfaces?.(key) ?? [];
    const ads = pool.bgpAdvertisements.filter((ad) => !ad.nodeSelectors?.length || matchesNode(ad.nodeSelectors, this.nodeLabels));
    return (this.config?.peers ?? [])
      .filter((peer) => matchesNode(peer.nodeSelectors, this.nodeLabels))
      .filter((peer) => ads.some((ad) => !ad.peers?.length || (peer.name !== undefined && ad.peers.includes(peer.name))))
      .map((peer) => (peer.peerPort === 179 ? peer.peerAddress : `${peer.peerAddress}:${peer.peerPort}`));
  }

  private applyChange(change: AnnouncementChange, svc?: SpeakerService): void {
    const { service, protocol } = change;
    const fields = { service, ip: change.ips.join(','), reason: protocol };
    switch (change.kind) {
      case 'assigned':
      case 'updated': {
        this.metrics.setAnnounced(service, protocol, change.ips, change.kind === 'updated' ? change.previousIps : undefined);
        if (change.kind === 'assigned' && protocol === 'layer2') {
          this.log.info({ ...fields, event: 'nodeAssigned', pool: change.pool }, `announcing ${service} from ${this.opts.node} (layer2 owner)`);
          if (svc) this.assignedEvent(svc);
        } else {
          this.log.info({ ...fields, event: change.kind === 'assigned' ? 'serviceAnnounced' : 'serviceUpdated', pool: change.pool }, `announcing ${service} by ${protocol}`);
        }
        return;
      }
      case 'withdrawn':
        if (protocol === 'layer2') this.tookOver.delete(service);
        this.statusObjects?.delete(protocol, service);
        this.metrics.withdrawn(service, protocol, change.ips);
        // Logged at the end of the run (flush(), stop()): one line each for a few, one line for many.
        this.withdrawals.add(change, this.clock.now());
        return;
    }
  }

  private sendEvent(p: Pending): void {
    const e: Omit<PendingEvent, 'key'> = p instanceof SpeakerService ? { md: p, type: 'Normal', reason: 'nodeAssigned', action: 'Announce', note: this.assignedNote } : p;
    this.recorder?.record({ apiVersion: 'v1', kind: 'Service', name: e.md.name ?? '', namespace: e.md.namespace, uid: e.md.uid }, e.type, e.reason, e.action, e.note);
  }

  /** nodeAssigned: queued under the Service's own key (a Service name has no '/', so no other Event's key collides). */
  private assignedEvent(svc: SpeakerService): void {
    this.pacer.push(objectKey(svc), svc);
  }

  private event(svc: SpeakerService, type: EventType, reason: string, action: string, note: string): void {
    const md = { name: svc.name, namespace: svc.namespace, uid: svc.uid };
    // One pending Event per Service and reason: a newer one replaces it (the newest state wins).
    // join(): one flat key string (a template is a cons string that the Map flattens into a second copy).
    const key = [md.namespace ?? '', md.name ?? '', reason].join('/');
    this.pacer.push(key, { key, md, type, reason, action, note });
  }

  /** Each Event on the object it is about (the ConfigMap, or the metallb.io object at fault). */
  private configEvents(events: VerdictEvent[]): void {
    for (const e of events) for (const subject of this.source.subjects(e.about)) this.recorder?.record(subject, e.type, e.reason, 'LoadConfig', e.note);
  }

  /** Refuse once (repeats of the same refusal log nothing new): the old config stays in force. */
  private refuse(note: string, keys: ReadonlySet<string>, report: () => void): void {
    this.metrics.configRefused();
    if (this.refused?.note !== note) report();
    this.refused = { note, keys };
  }

  /** Decides on the ConfigMap with the controller's rule (allocator/config-verdict.ts) on the same statuses. */
  private reloadConfig(): void {
    const input = this.source.input();
    const verdict = evaluateInput(input, this.heldByStatuses(), this.appliedText, this.config);
    const inForce = this.hash ?? 'none';
    this.state?.report(configStateOf(verdict, this.source.source, this.config && this.hash ? { config: this.config, hash: this.hash } : undefined, this.source.describe()));
    switch (verdict.kind) {
      case 'missing':
        this.refuse('missing', new Set(), () => {
          this.log.warn(
            { event: 'configMissing', config: inForce, reason: `${this.source.describe()} not found` },
            this.config ? `config deleted (${this.source.describe()}): keeping the last config` : `no config (${this.source.describe()}): nothing is announced until it exists`,
          );
        });
        return;
      case 'unchanged':
        this.refused = undefined;
        this.metrics.configApplied();
        return;
      case 'invalid': {
        const events = refusalEvents(verdict, this.source.source);
        this.refuse(events.map((e) => e.note).join('\n'), new Set(), () => {
          this.configEvents(events);
          this.log.error({ event: 'configInvalid', config: inForce, reason: verdict.issues.map((i) => `${i.path}: ${i.message}`).join('; ') }, `config refused: invalid; config ${inForce} stays in force`);
        });
        return;
      }
      case 'breaking': {
        const events = refusalEvents(verdict, this.source.source);
        this.refuse(events.map((e) => e.note).join('\n'), new Set(verdict.breaking.map((c) => c.key)), () => {
          this.configEvents(events);
          for (const c of verdict.breaking) {
            for (const ip of c.ips) {
              this.log.error({ event: 'configRefused', config: inForce, service: c.key, ip: ip.ip, reason: ip.reason }, `config ${verdict.hash} refused: it would break ${c.key}; config ${inForce} stays in force`);
            }
          }
        });
        return;
      }
      case 'apply':
        break;
    }
    const { config, hash, warnings } = verdict;
    for (const p of PROTOCOLS) this.announcers[p].setConfig(config);
    const first = this.config === undefined;
    this.config = config;
    this.hash = hash;
    this.appliedText = inputText(input);
    this.refused = undefined;
    this.metrics.configAccepted(hash);
    this.log.info({ event: 'configLoaded', config: hash, reason: `${config.pools.length} pools, ${config.peers.length} peers` }, `config ${hash} ${first ? 'loaded' : 'reloaded'}`);
    // The controller writes these as a ConfigWarning Event; each speaker only logs them.
    for (const w of warnings) this.log.warn({ event: 'configWarning', config: hash, reason: `${w.path}: ${w.message}` }, 'config warning');
    this.markAll();
  }
}
