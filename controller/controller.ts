// The controller daemon: informers -> (leader only) restore statuses -> load config -> reconcile
// Services through the work queue, writing status and Events. Decisions live in reconcile.ts and
// allocator/config-verdict.ts (the config rule the speakers share); this file only wires them to the
// API server, the metrics and the logs.
import type { V1ConfigMap, V1Lease, V1Namespace, V1Service } from '@kubernetes/client-node';
import type { KubeAccess } from '../kube/access.js';
import { decodeObject } from '../kube/decode.js';
import { FIRST_PAGE_ITEMS, nextPageSize } from '../kube/list-pages.js';
import { KubeApiError, kubeRequest, onApiThrottled, type Throttled } from '../kube/request.js';
import type { Config } from '../config/model.js';
import { poolAnnounced } from '../config/advertisement-scope.js';
import { EventRecorder, type EventSubject, type EventType } from '../kube/events.js';
import { objectKey, type InformerSource } from '../kube/informer.js';
import { sleep, systemClock, type Clock } from '../kube/clock.js';
import { ConfigSource, describeChange, describeResources } from '../kube/config-source.js';
import { leaseInformer, namespaceInformer, serviceInformer } from '../kube/informers.js';
import { LeaseLock } from '../kube/lease.js';
import type { Logger } from '../kube/log.js';
import { startMetricsServer, type MetricsServer } from '../kube/metrics-server.js';
import { apiRetry } from '../kube/api-retry.js';
import { updateServiceStatus, type StatusWrite } from '../kube/status.js';
import { WorkQueue } from '../kube/workqueue.js';
import { Allocator, type Assignment } from '../allocator/allocator.js';
import { evaluateInput, inputText, loadedEvents, refusalEvents, unreadNote, type ConfigSourceKind, type VerdictEvent } from '../allocator/config-verdict.js';
import { heldByStatus, type ServiceObject } from '../allocator/service-request.js';
import type { HeldAddresses } from '../allocator/config-check.js';
import { LeaderElector, type Lock } from './leader.js';
import { ControllerMetrics } from './metrics.js';
import { PendingServices, unblockedBy } from './pending.js';
import { decide, planClear, restoreFromStatuses, whyNotHandled, type Decision, type ReconcileOptions } from './reconcile.js';
import { annotationConflicts } from '../allocator/annotations.js';
import { serviceWrite, type ServiceWant } from './service-status.js';
import { configStateOf } from '../allocator/config-state.js';
import { ConfigurationStateWriter } from '../kube/configuration-state.js';
import { PoolStatusWriter, type PoolCounts } from '../kube/pool-status.js';
import { poolCountsOf } from './pool-status.js';

/** Where the controller's Events go (an EventRecorder by default). */
export interface EventSink {
  record(subject: EventSubject, type: EventType, reason: string, action: string, note: string): void;
  close(): Promise<void>;
}

/**
 * Everything the controller reads from and writes to the API server. By default built on
 * `kubeConfig`; a test injects its own to deliver API events, answers and errors at chosen moments
 * of the leader's start-up (test/unit/controller/churn-model.ts).
 */
export interface ControllerApi {
  services: InformerSource<V1Service>;
  configMaps: InformerSource<V1ConfigMap>;
  /** Namespaces, for their labels (default: watched unless `services` is injected too). */
  namespaces?: InformerSource<V1Namespace>;
  /** The leader Lease, watched (leader election only). */
  leases?: InformerSource<V1Lease>;
  /** The leader Lease lock (leader election only). */
  lock?: Lock;
  /** Every Service of the watched namespace(s), fresh from the server: what a new leader restores. */
  listServices(): Promise<V1Service[]>;
  /** updateServiceStatus()'s contract: `mutate` gets the latest object; undefined writes nothing; annotations go in the same write. */
  updateStatus(namespace: string, name: string, mutate: (svc: V1Service) => StatusWrite | undefined, current: V1Service): Promise<unknown>;
  events?: EventSink;
}

export interface ControllerOptions {
  kubeConfig: KubeAccess;
  /** Namespace of the ConfigMap (or metallb.io objects) and the leader Lease. */
  namespace: string;
  configMap: string;
  /** Where the config comes from (default configmap): the ConfigMap, or the metallb.io objects of `namespace`. */
  configSource?: ConfigSourceKind;
  /** Watch Services of this namespace only (default: all namespaces). */
  servicesNamespace?: string;
  lbClass?: string;
  leaderElect: boolean;
  /** This replica's name in the Lease and in Events. */
  identity: string;
  /** Leader Lease duration (default 15 s); renew deadline and retry period derive from it. */
  leaseDurationMs?: number;
  /** Name of the leader Lease (default herald-controller). */
  leaseName?: string;
  /** e.g. ":7472"; undefined: no HTTP endpoint. */
  metricsAddress?: string;
  logger: Logger;
  metrics?: ControllerMetrics;
  /**
   * Reconcile workers (status writes in flight at once). Default 8. Measured on the shared 2-core
   * test machine: 16 beat 8 at 5,000 Services (352/s vs 224/s) but lost at 10,000 (56 and 107 s vs
   * 32-61 s: the API server's own latency rose from 11-22 ms to 39-73 ms), 32 and 64 lost at
   * 5,000 too (165-211/s); no evidence for more. Each Service's Event follows its status write, so Events are paced
   * by the same workers.
   */
  concurrency?: number;
  /** Test seam: the API (default: the server of `kubeConfig`). */
  api?: Partial<ControllerApi>;
  /** Write the ConfigurationState object `controller` (default: yes, unless the API is injected). */
  configurationState?: boolean;
  /** Write IPAddressPool status counts (crds source; default: yes, unless the API is injected). */
  poolStatus?: boolean;
  /** How often the metallb.io kinds served are discovered again (default 30 s; 0: only at start). */
  crdDiscoveryIntervalMs?: number;
  /** Least time between two IPAddressPool status flushes (default 1 s). */
  poolStatusIntervalMs?: number;
  /** Timers of the work queue, leader election and start-up retries (default: the system clock). */
  clock?: Clock;
}

const CONFIG_KEY = '#config';
export const DEFAULT_LEASE_NAME = 'herald-controller';
const EMPTY_CONFIG: Config = { peers: [], bgpCommunities: {}, pools: [], bfdProfiles: [] };
const REPORTER = 'herald.io/controller';

/** One leadership term: state rebuilt from the cluster each time this replica becomes leader. */
interface Term {
  gen: number;
  allocator: Allocator;
  queue: WorkQueue;
  workers: Promise<void>;
  /** Services without addresses, retried on config changes and when an address they could use is freed. */
  pending: PendingServices;
  /** Source text (inputText) of the config in force (undefined: none loaded yet). */
  appliedText: string | undefined;
  /** The config in force and its hash (configHash). */
  config: Config | undefined;
  hash: string | undefined;
  /** Services a refused (breaking) config would break: a change to one re-evaluates it. */
  refusedKeys: Set<string>;
  /** The last refusal's note, so a re-evaluation with the same outcome logs nothing new. */
  lastRefusal: string | undefined;
  /** A valid config was refused as breaking: releases may make it acceptable. */
  refusedBreaking: boolean;
  configMissing: boolean;
  /** Services deleted while this term listed and restored: reconciled (so released) once a config is in force. */
  deletedWhileStarting: Set<string>;
  /** What decide() is given (built once per term, with the requests the restore built). */
  reconcileOpts: ReconcileOptions;
}

export class Controller {
  readonly metrics: ControllerMetrics;
  private readonly log: Logger;
  private readonly services: InformerSource<V1Service>;
  /** Namespaces: their labels say which pools a Service may use (IPAddressPool serviceAllocation.namespaceSelectors). */
  private readonly namespaces: InformerSource<V1Namespace> | undefined;
  private readonly source: ConfigSource;
  /** The leader Lease, watched so a standby sees each renewal when it happens (leader election only). */
  private readonly leases: InformerSource<V1Lease> | undefined;
  private readonly clock: Clock;
  private recorder: EventSink | undefined;
  /** The ConfigurationState `controller`: written by the leader from each config verdict. */
  private readonly state: ConfigurationStateWriter | undefined;
  /** IPAddressPool status counts (crds source): written by the leader, paced, only on change. */
  private readonly poolStatus: PoolStatusWriter | undefined;
  private server: MetricsServer | undefined;
  private elector: LeaderElector | undefined;
  private term: Term | undefined;
  private gen = 0;
  /** The annotation conflict last reported per Service (only Services that have one). */
  private readonly annotationNotes = new Map<string, string>();
  private synced = false;
  /**
   * The generation of the term whose start (list and restore) is in flight. A start abandoned (its
   * leadership lost) keeps running until its list returns; a new leadership meanwhile starts anew
   * (was: it found a start in flight and returned, so the replica held the Lease and never led).
   */
  private startingGen: number | undefined;
  private stopped = false;
  /**
   * Services deleted while a term is starting (its list in flight): the list may still show them, so
   * they are restored, and their delete event found no term to queue it in. Recorded only in that
   * window (so bounded), handed to the term, which reconciles them: they were kept until the next term.
   */
  private deletedWhileStarting = new Set<string>();
  private stopThrottleWatch: (() => void) | undefined;
  /** 429s waited out since the last apiThrottled line (logged at most every 10 s). */
  private throttledSinceLog = 0;
  private lastThrottleLog = -Infinity;
  /** Whether the annotationsPatched line was logged. */
  private annotationsPatchedSaid = false;
  /** Ends start-up retries (an API server unreachable at start) when the controller stops. */
  private readonly startAbort = new AbortController();
  /** Whether every informer synced (false: start gave up, stopped). */
  private informersSynced: Promise<boolean> = Promise.resolve(false);

  constructor(private readonly opts: ControllerOptions) {
    this.log = opts.logger;
    this.metrics = opts.metrics ?? new ControllerMetrics();
    this.clock = opts.clock ?? systemClock;
    const api = opts.api ?? {};
    this.services = api.services ?? serviceInformer(opts.kubeConfig, { namespace: opts.servicesNamespace });
    this.namespaces = api.namespaces ?? (api.services ? undefined : namespaceInformer(opts.kubeConfig, { name: opts.servicesNamespace }));
    this.source = new ConfigSource({
      kubeConfig: opts.kubeConfig,
      namespace: opts.namespace,
      configMap: opts.configMap,
      source: opts.configSource ?? 'configmap',
      retry: apiRetry(this.log, this.metrics, 'discovering the metallb.io CRDs', this.startAbort.signal),
      rediscoverMs: opts.crdDiscoveryIntervalMs,
      clock: this.clock,
      // An injected API serves no metallb.io kinds.
      ...(api.configMaps ? { configMaps: api.configMaps, discover: async () => [] } : {}),
    });
    if (opts.configurationState ?? !opts.api) {
      this.state = new ConfigurationStateWriter({
        kubeConfig: opts.kubeConfig,
        namespace: opts.namespace,
        name: 'controller',
        component: 'controller',
        clock: this.clock,
        onError: (err) => {
          this.metrics.k8sApiErrors.inc({ operation: 'configuration_state' });
          this.log.warn({ event: 'configurationStateFailed', err }, 'writing the ConfigurationState failed; retrying');
        },
        onSynced: (state, wrote) => this.log.info({ event: 'configurationState', config: state.configHash, reason: `${state.result} ${state.reason}: ${wrote ? 'written' : 'already stored'}` }, `ConfigurationState ${wrote ? 'written' : 'unchanged'}: ${state.result}`),
        onUnavailable: () => this.log.info({ event: 'configurationStateUnavailable' }, 'the metallb.io ConfigurationState kind is not served (CRDs not installed): the config verdict is in the logs and Events only'),
      });
    }
    if ((opts.configSource ?? 'configmap') === 'crds' && (opts.poolStatus ?? !opts.api)) {
      this.poolStatus = new PoolStatusWriter({
        kubeConfig: opts.kubeConfig,
        namespace: opts.namespace,
        clock: this.clock,
        minIntervalMs: opts.poolStatusIntervalMs,
        stored: (name) => {
          const o = this.source.find('IPAddressPool', name) as { metadata?: { uid?: string }; status?: Partial<PoolCounts> } | undefined;
          return o && { uid: o.metadata?.uid, status: o.status };
        },
        onError: (err) => {
          this.metrics.k8sApiErrors.inc({ operation: 'pool_status' });
          this.log.warn({ event: 'poolStatusFailed', err }, 'writing an IPAddressPool status failed; retrying');
        },
        onWritten: (pool, c) =>
          this.log.debug({ event: 'poolStatusWritten', pool, reason: `assignedIPv4 ${c.assignedIPv4}, assignedIPv6 ${c.assignedIPv6}, availableIPv4 ${c.availableIPv4}, availableIPv6 ${c.availableIPv6}` }, `IPAddressPool ${pool} status written`),
      });
    }
    if (opts.leaderElect) this.leases = api.leases ?? (api.lock ? undefined : leaseInformer(opts.kubeConfig, opts.namespace, { fieldSelector: `metadata.name=${this.leaseName}` }));
  }

  private get leaseName(): string {
    return this.opts.leaseName ?? DEFAULT_LEASE_NAME;
  }

  /** The metrics endpoint's URL once started (undefined without --metrics-address). */
  get metricsUrl(): string | undefined {
    return this.server?.url;
  }

  get leading(): boolean {
    return this.term !== undefined;
  }

  /** The allocator of the current term (tests and benchmarks compare it with the statuses). */
  get allocator(): Allocator | undefined {
    return this.term?.allocator;
  }

  get configLoaded(): boolean {
    return this.term?.appliedText !== undefined;
  }

  /** Why the controller is not ready, or true. */
  ready(): true | string {
    if (!this.synced) return 'informers not synced';
    if (this.opts.leaderElect && !this.term) return true; // a warm standby is ready
    if (!this.configLoaded) return 'no valid config loaded';
    return true;
  }

  async start(): Promise<void> {
    // The HTTP endpoint first: /healthz must answer while the API server is unreachable (a liveness
    // probe would restart us); only a bad --metrics-address ends the start here.
    if (this.opts.metricsAddress !== undefined) {
      this.server = await startMetricsServer({ address: this.opts.metricsAddress, registry: this.metrics.registry, ready: () => this.ready() });
      this.log.info({ event: 'metricsListening', reason: this.server.url }, `metrics on ${this.server.url}`);
    }
    this.stopThrottleWatch = onApiThrottled(this.opts.kubeConfig, (t) => this.throttled(t));
    try {
      this.recorder = this.opts.api?.events ?? await EventRecorder.create(this.opts.kubeConfig, {
        reportingController: REPORTER,
        reportingInstance: this.opts.identity,
        retry: apiRetry(this.log, this.metrics, 'discovering the Events API', this.startAbort.signal),
        onError: (err) => {
          this.metrics.k8sApiErrors.inc({ operation: 'event_write' });
          this.log.warn({ event: 'eventWriteFailed', err }, 'writing an Event failed');
        },
      });
    } catch (err) {
      if (this.stopped) return; // stopped while the API server was unreachable
      throw err;
    }
    const onService = (svc: V1Service): void => {
      this.metrics.k8sUpdates.inc();
      const key = objectKey(svc);
      this.term?.queue.add(key);
      if (!this.term && this.startingGen !== undefined && !this.services.get(key)) this.deletedWhileStarting.add(key);
      // A refused config is judged on the statuses: it may fit once a Service it breaks changes.
      if (this.term?.refusedBreaking && this.term.refusedKeys.has(key)) this.term.queue.add(CONFIG_KEY);
    };
    this.services.on('add', onService).on('update', onService).on('delete', onService);
    // A Namespace seen or relabelled: its pending Services may now match (or wait for) other pools.
    // Services holding addresses keep them (no reshuffle), so only pending ones are retried.
    const onNamespace = (ns: V1Namespace): void => {
      const term = this.term;
      if (term) for (const key of term.pending.inNamespace(ns.metadata?.name ?? '')) term.queue.add(key);
    };
    this.namespaces?.on('add', onNamespace).on('update', onNamespace).on('delete', onNamespace);
    this.source.onChange(() => {
      this.metrics.k8sUpdates.inc();
      this.term?.queue.add(CONFIG_KEY);
      // A pool object created again under its name shows no status yet: the same counts are due.
      if (this.term) this.reportPoolStatus(this.term);
    });
    const onLease = (lease: Parameters<LeaderElector['observe']>[0]): void => this.elector?.observe(lease);
    this.leases?.on('add', onLease).on('update', onLease).on('delete', () => onLease(undefined));
    const onWatchError = (err: Error): void => {
      this.metrics.k8sApiErrors.inc({ operation: 'list_watch' });
      this.log.warn({ event: 'watchError', err }, 'list/watch failed; retrying');
    };
    for (const inf of [this.services, this.namespaces, this.leases]) {
      if (inf) this.metrics.watchInformer(inf);
      inf?.on('error', onWatchError);
    }
    this.source.onError(onWatchError);
    // CRDs installed or deleted while running: watched (or dropped) now, said as at start.
    this.source.onResources((change) => {
      for (const inf of this.source.informers()) this.metrics.watchInformer(inf);
      this.log.info({ event: 'configSource', reason: describeResources(this.source.resources) }, `config source: ${this.source.describe()}; metallb.io kinds ${describeChange(change)}`);
    });
    // Without leader election this process leads from its start: every list its informer makes comes after.
    const leadingSince = this.services.listsRequested;
    const informers = Promise.all([this.services.start(), this.namespaces?.start(), this.source.start(), this.leases?.start()]);
    this.informersSynced = informers.then(
      () => true,
      () => false,
    );
    // Leading (and so the leader's list of Services) starts now, overlapping the informers' lists
    // (was: after they synced, one full list after the other); startTerm orders the two lists.
    const term = this.opts.leaderElect ? this.startElector() : this.startTerm(leadingSince);
    try {
      await informers;
    } catch (err) {
      if (this.stopped) return; // stopped while discovery was retrying
      throw err;
    }
    if (this.stopped) return;
    for (const inf of this.source.informers()) this.metrics.watchInformer(inf);
    this.log.info({ event: 'configSource', reason: describeResources(this.source.resources) }, `config source: ${this.source.describe()}`);
    this.synced = true;
    this.log.info({ event: 'informersSynced' }, `informers synced (${this.services.size} Services)`);
    await term;
  }

  private startElector(): Promise<void> {
    const durationMs = this.opts.leaseDurationMs ?? 15_000;
    const lock =
      this.opts.api?.lock ??
      new LeaseLock(this.opts.kubeConfig, {
        namespace: this.opts.namespace,
        name: this.leaseName,
        identity: this.opts.identity,
        durationSeconds: Math.max(1, Math.round(durationMs / 1000)),
      });
    this.elector = new LeaderElector({
      lock,
      clock: this.opts.clock,
      identity: this.opts.identity,
      durationMs,
      onStartedLeading: (took) => {
        const reason = took ? `took over from ${took.holder} ${took.sinceSeenMs} ms after its last renewal was seen` : 'the Lease was free';
        this.log.info({ event: 'leaseAcquired', node: this.opts.identity, reason }, 'acquired the leader Lease; restoring before acting');
        void this.startTerm();
      },
      onStoppedLeading: (why) => this.endTerm(why),
      onError: (err) => {
        this.metrics.leaseRenewFailures.inc();
        this.log.warn({ event: 'leaseRenewFailed', err }, 'leader Lease acquire/renew failed');
      },
      onLeaderObserved: (holder) => this.log.info({ event: 'leaderObserved', node: holder }, `${holder} is the leader`),
    });
    this.elector.start();
    return Promise.resolve();
  }

  /** A 429 waited out: counted; logged once, then at most every 10 s with how many since. */
  private throttled(t: Throttled): void {
    this.metrics.k8sApiThrottled.inc();
    this.throttledSinceLog++;
    const now = this.clock.now();
    if (now - this.lastThrottleLog < 10_000) return;
    const n = this.throttledSinceLog;
    this.throttledSinceLog = 0;
    this.lastThrottleLog = now;
    this.log.warn(
      { event: 'apiThrottled', reason: `${t.method} ${t.path.split('?')[0]}: 429, retry ${t.attempt} in ${t.delayMs} ms` },
      `the API server is throttling us (429 Too Many Requests): ${n} request${n === 1 ? '' : 's'} waiting out Retry-After since the last such line`,
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopThrottleWatch?.();
    this.startAbort.abort(new Error('controller stopped'));
    await this.elector?.stop();
    this.endTerm('shutting down');
    this.state?.close();
    this.poolStatus?.close();
    await Promise.all([this.services.stop(), this.namespaces?.stop(), this.source.stop(), this.leases?.stop()]);
    await this.recorder?.close();
    await this.server?.close();
  }

  /**
   * Becoming leader: rebuild the allocator from the Services' statuses, load the config, then
   * reconcile. The statuses come from a fresh (quorum) list, not the informer cache, so a standby
   * taking over sees every status the old leader wrote, however far its watch lags.
   */
  private async startTerm(leadingSince = this.services.listsRequested): Promise<void> {
    if (this.stopped || this.term || (this.startingGen !== undefined && this.startingGen === this.gen)) return;
    // Deletes seen during an abandoned start still count: its list may have shown them to nobody yet.
    if (this.startingGen === undefined) this.deletedWhileStarting = new Set();
    const gen = ++this.gen;
    this.startingGen = gen;
    const t0 = performance.now();
    let services: V1Service[] | undefined;
    for (let attempt = 0; services === undefined; attempt++) {
      try {
        services = await this.listForRestore(leadingSince);
      } catch (err) {
        if (this.stopped) return;
        this.log.warn({ event: 'restoreListFailed', err }, 'listing Services to restore failed; retrying');
        await sleep(this.clock, Math.min(5_000, 200 * 2 ** attempt));
      }
      // Leadership lost (or shutdown) meanwhile: this term never starts.
      if (gen !== this.gen || this.stopped || (this.elector !== undefined && !this.elector.leading)) {
        if (this.startingGen === gen) this.startingGen = undefined;
        return;
      }
    }
    this.startingGen = undefined;
    const allocator = new Allocator(EMPTY_CONFIG);
    const reconcileOpts: ReconcileOptions = { lbClass: this.opts.lbClass, namespaceLabels: (ns) => this.namespaceLabels(ns), restored: new WeakMap() };
    const problems = restoreFromStatuses(allocator, services, reconcileOpts);
    for (const p of problems) this.log.warn({ event: 'restoreConflict', service: p.key, reason: p.why }, `cannot restore ${p.key}: ${p.why}`);
    this.log.info({ event: 'leading', reason: `restored ${allocator.size} Services in ${(performance.now() - t0).toFixed(0)} ms` }, 'leading: allocations restored from Service statuses');
    const queue = new WorkQueue({ retryInitialMs: 50, retryMaxMs: 60_000, clock: this.clock });
    const term: Term = {
      gen,
      allocator,
      queue,
      workers: Promise.resolve(),
      pending: new PendingServices(),
      appliedText: undefined,
      config: undefined,
      hash: undefined,
      refusedKeys: new Set(),
      lastRefusal: undefined,
      refusedBreaking: false,
      configMissing: false,
      deletedWhileStarting: this.deletedWhileStarting,
      reconcileOpts,
    };
    this.deletedWhileStarting = new Set();
    this.term = term;
    this.metrics.setLeader(true);
    // The config first (synchronously, before any worker runs): nothing is allocated without one.
    this.reloadConfig(term);
    if (term.appliedText === undefined) this.metrics.configLoaded.set(0);
    term.workers = queue.run((key) => this.reconcile(term, key), {
      concurrency: this.opts.concurrency ?? 8,
      onError: (key, err) => {
        this.metrics.k8sUpdateErrors.inc();
        this.log.warn({ event: 'reconcileFailed', service: key, err }, `reconcile of ${key} failed; retrying`);
      },
    });
  }

  /**
   * The Services to restore, with the caches synced. The list is sent once the Service informer's own
   * list has its snapshot fixed, so it reads a state at least as new as the one the cache starts from:
   * a Service deleted after the cache's snapshot shows as a delete event (deletedWhileStarting), and
   * the two lists overlap. A cache that synced from a later list (the informer listed again after an
   * error) may be newer than ours, a delete in between seen by neither: then listed again.
   * No list of our own when the cache synced from a list requested after this replica began to lead
   * (`leadingSince`: lists requested then; always so without leader election): that list is as fresh
   * as ours would be, and the cache is it plus the events since (was: a second full list at every start).
   */
  private async listForRestore(leadingSince: number | undefined): Promise<V1Service[]> {
    const cacheIsFresh = (): boolean => leadingSince !== undefined && (this.services.syncedFromList ?? 0) > leadingSince;
    if (leadingSince === 0 && this.services.listSnapshot) {
      if (!(await this.whileRunning(this.informersSynced))) throw new Error('informers stopped');
      if (cacheIsFresh()) return this.services.list();
    }
    const snapshot = this.services.listSnapshot ? await this.whileRunning(this.services.listSnapshot()) : undefined;
    if (snapshot === undefined) await this.whileRunning(this.informersSynced);
    const services = await this.listServices();
    if (!(await this.whileRunning(this.informersSynced))) throw new Error('informers stopped');
    if (cacheIsFresh()) return this.services.list();
    if (snapshot !== undefined && (this.services.syncedFromList ?? 0) > snapshot) return this.listServices();
    return services;
  }

  /** `p`, or a rejection once the controller stops (a start-up wait never outlives it). */
  private whileRunning<T>(p: Promise<T>): Promise<T> {
    const signal = this.startAbort.signal;
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /** Every Service (of the watched namespace), page by page (sized as the informer's: list-pages.ts), read from etcd. */
  private async listServices(): Promise<V1Service[]> {
    if (this.opts.api?.listServices) return this.opts.api.listServices();
    const ns = this.opts.servicesNamespace;
    const path = ns ? `/api/v1/namespaces/${encodeURIComponent(ns)}/services` : '/api/v1/services';
    const out: V1Service[] = [];
    let cont = '';
    let limit = FIRST_PAGE_ITEMS;
    let bytes = 0;
    const onBodyBytes = (n: number): void => void (bytes = n);
    do {
      const q = new URLSearchParams({ limit: String(limit) });
      if (cont) q.set('continue', cont);
      const page = (await kubeRequest(this.opts.kubeConfig, 'GET', `${path}?${q.toString()}`, { onBodyBytes })) as { items?: unknown[]; metadata?: { continue?: string } };
      const raws = page.items ?? [];
      for (const raw of raws) out.push(decodeObject<V1Service>(raw));
      cont = page.metadata?.continue ?? '';
      limit = nextPageSize(raws.length, bytes, limit);
    } while (cont);
    return out;
  }

  private endTerm(why: string): void {
    this.gen++; // a term still starting is abandoned
    const term = this.term;
    if (!term) return;
    this.term = undefined;
    term.queue.shutDown();
    this.poolStatus?.reset();
    this.metrics.setLeader(false);
    this.log.info({ event: 'stoppedLeading', reason: why }, `not leading any more: ${why}`);
  }

  private current(term: Term): boolean {
    return this.term === term && !this.stopped;
  }

  private async reconcile(term: Term, key: string): Promise<void> {
    if (!this.current(term)) return;
    if (key === CONFIG_KEY) return this.reloadConfig(term);
    // Nothing is allocated (or cleared) before a config is in force: queued again when one is applied
    // (the informer's keys then, and a deleted Service, gone from them, kept to be released then).
    if (term.appliedText === undefined) {
      if (!this.services.get(key)) term.deletedWhileStarting.add(key);
      return;
    }
    const svc = this.services.get(key);
    this.reportAnnotationConflicts(key, svc);
    const decision = decide(key, svc, term.allocator, term.reconcileOpts);
    try {
      await this.apply(term, key, svc, decision);
    } catch (err) {
      // A throttled status write: reconciled again (recomputed, in this term only) after Retry-After.
      if (!(err instanceof KubeApiError) || err.status !== 429) throw err;
      const delayMs = err.retryAfterMs ?? 1_000;
      this.throttled({ method: err.method, path: err.path, delayMs, attempt: 1 });
      term.queue.addAfter(key, delayMs);
    }
  }

  private async apply(term: Term, key: string, svc: V1Service | undefined, d: Decision): Promise<void> {
    switch (d.kind) {
      case 'ignore':
        term.pending.delete(key);
        if (d.freed.length > 0) this.released(term, d.freed);
        for (const c of d.conflicts ?? []) {
          this.log.warn({ event: 'foreignConflict', service: key, ip: c.ip, reason: `also held by ${c.holders.join(', ')}` }, `${key} (not ours) holds ${c.ip}, which ${c.holders.join(', ')} hold${c.holders.length === 1 ? 's' : ''} too: ours keep it`);
        }
        return;
      case 'deleted':
        term.pending.delete(key);
        if (d.freed.length > 0) {
          this.log.info({ event: 'ipReleased', service: key, ip: d.freed.join(','), reason: 'serviceDeleted' }, `released the addresses of deleted ${key}`);
          this.released(term, d.freed);
        }
        return;
      case 'clear': {
        term.pending.delete(key);
        if (d.freed.length > 0) this.released(term, d.freed);
        else if (d.released) this.poolMetrics(term);
        if (!svc) return;
        const plan = planClear(d);
        // A Service of another class keeps what its own controller wrote; ours held nothing any more.
        await this.write(term, svc, { ips: plan.writeStatus ? [] : undefined, annotate: d.released ? { pool: undefined } : undefined });
        if (!plan.report) return;
        this.event(svc, 'Normal', 'ClearAssignment', 'Clear', plan.report.note);
        this.log.info({ event: 'clearAssignment', service: key, ip: plan.report.ips.join(','), reason: plan.report.reason }, `cleared ${key}`);
        return;
      }
      case 'assigned': {
        term.pending.delete(key);
        if (d.freed.length > 0) this.released(term, d.freed);
        else if (d.changed) this.poolMetrics(term);
        if (!svc) return;
        if (!d.changed) {
          await this.write(term, svc, { annotate: { pool: d.assignment.pool } });
          return;
        }
        await this.write(term, svc, { ips: d.assignment.ips, annotate: { pool: d.assignment.pool } });
        this.event(svc, 'Normal', 'IPAllocated', 'Allocate', `Assigned IP ${JSON.stringify(d.assignment.ips)} from pool "${d.assignment.pool ?? ''}"`);
        this.logAssigned(key, d.assignment);
        this.reportNotAnnounced(term, key, svc, d.assignment.pool);
        return;
      }
      case 'failed': {
        const fresh = term.pending.failed(key, d.reason, unblockedBy(d.error, d.families));
        if (d.freed.length > 0) this.released(term, d.freed);
        else if (d.released) this.poolMetrics(term);
        if (!svc) return;
        await this.write(term, svc, { ips: d.statusIps.length > 0 ? [] : undefined, annotate: { pool: undefined } });
        if (d.statusIps.length > 0) {
          this.event(svc, 'Normal', 'ClearAssignment', 'Clear', `removed addresses ${d.statusIps.join(', ')}: ${d.reason}`);
        }
        this.event(svc, 'Warning', 'AllocationFailed', 'Allocate', `Failed to allocate IP for "${key}": ${d.reason}`);
        // The Event aggregates repeats itself; the log says a failure once, until its reason changes.
        if (fresh) this.log.warn({ event: 'allocationFailed', service: key, reason: d.reason }, `no address for ${key}: ${d.reason}`);
        return;
      }
    }
  }

  /**
   * An address from a pool no L2Advertisement or BGPAdvertisement selects: allocated, as MetalLB does,
   * but no speaker announces it; a Warning Event on the Service and a log line say so at assignment.
   */
  private reportNotAnnounced(term: Term, key: string, svc: V1Service, poolName: string | undefined): void {
    const pool = term.config?.pools.find((p) => p.name === poolName);
    if (!pool || poolAnnounced(pool)) return;
    const note = `pool "${pool.name}" is selected by no L2Advertisement or BGPAdvertisement: the address is allocated but not announced (MetalLB's rule); add an advertisement for the pool`;
    this.event(svc, 'Warning', 'NotAnnounced', 'Allocate', note);
    this.log.warn({ event: 'notAnnounced', service: key, pool: pool.name }, `${key}: ${note}`);
  }

  /**
   * A Service with a MetalLB annotation under both names, with different values: a Warning Event
   * and a log line say which one is used and why, once per distinct conflict (not on every resync).
   */
  private reportAnnotationConflicts(key: string, svc: V1Service | undefined): void {
    const notes = svc && whyNotHandled(svc, { lbClass: this.opts.lbClass }) === undefined ? annotationConflicts(svc.metadata?.annotations) : [];
    const text = notes.join('; ');
    if (text === (this.annotationNotes.get(key) ?? '')) return;
    if (text === '') {
      this.annotationNotes.delete(key);
      return;
    }
    this.annotationNotes.set(key, text);
    this.event(svc as V1Service, 'Warning', 'AnnotationConflict', 'Allocate', text);
    this.log.warn({ event: 'annotationConflict', service: key, reason: text }, `${key}: ${text}`);
  }

  /** A Namespace's labels; undefined while it is not known (without a Namespace informer: none, `{}`). */
  private namespaceLabels(ns: string): Record<string, string> | undefined {
    if (!this.namespaces) return {};
    const obj = this.namespaces.get(ns);
    return obj && (obj.metadata?.labels ?? {});
  }

  private logAssigned(key: string, a: Assignment): void {
    this.log.info({ event: 'ipAllocated', service: key, ip: a.ips.join(','), pool: a.pool ?? '' }, `${key} holds ${a.ips.join(', ')}`);
  }

  /**
   * Addresses were freed (`ips`): the pending Services that could use one retry, and a refused config
   * may have become acceptable.
   */
  private released(term: Term, ips: readonly string[]): void {
    this.poolMetrics(term);
    const pools = term.config?.pools ?? [];
    const freed = ips.map((ip) => {
      const pool = term.allocator.poolOf(ip);
      return { ip, pool, autoAssign: pools.find((p) => p.name === pool)?.autoAssign ?? false };
    });
    for (const key of term.pending.retryFor(freed)) term.queue.add(key);
    if (term.refusedBreaking) term.queue.add(CONFIG_KEY);
  }

  /**
   * Makes `svc` show `want` in one status write: its addresses, and `metallb.io/ip-allocated-from-pool`
   * (MetalLB's: the pool of what it holds, removed when it holds nothing) in the same request, so a
   * create costs one write and one watch event. Nothing is written when the Service already shows it
   * (so never at steady state, nor after a restart), and only while leading this term; conflicts are
   * retried against the latest object.
   */
  private async write(term: Term, svc: V1Service, want: ServiceWant): Promise<void> {
    const ns = svc.metadata?.namespace ?? 'default';
    const name = svc.metadata?.name ?? '';
    // Nothing to write (a restart's common case, every Service as wanted): what updateServiceStatus would
    // find from `svc` first, without its copy of the object (100,000 structuredClones: ~1 s of CPU).
    if (serviceWrite(svc, want) === undefined) return;
    const mutate = (fresh: V1Service): StatusWrite | undefined => (this.current(term) ? serviceWrite(fresh, want) : undefined);
    if (this.opts.api?.updateStatus) await this.opts.api.updateStatus(ns, name, mutate, svc);
    else await updateServiceStatus(this.opts.kubeConfig, ns, name, mutate, { current: svc, onAnnotationsPatched: () => this.annotationsPatched() });
  }

  /** The API server dropped the annotation from a status write (sent again as a patch): said once. */
  private annotationsPatched(): void {
    if (this.annotationsPatchedSaid) return;
    this.annotationsPatchedSaid = true;
    this.log.info({ event: 'annotationsPatched' }, 'the API server keeps no metadata changes on services/status: metallb.io/ip-allocated-from-pool is written by a second request (a patch)');
  }

  private event(svc: V1Service, type: EventType, reason: string, action: string, note: string): void {
    const md = svc.metadata ?? {};
    this.recorder?.record({ apiVersion: 'v1', kind: 'Service', name: md.name ?? '', namespace: md.namespace, uid: md.uid }, type, reason, action, note);
  }

  /** Each Event on the object it is about (the ConfigMap, or the metallb.io object at fault). */
  private configEvents(events: VerdictEvent[]): void {
    for (const e of events) for (const subject of this.source.subjects(e.about)) this.recorder?.record(subject, e.type, e.reason, 'LoadConfig', e.note);
  }

  private poolMetrics(term: Term): void {
    const stats = term.allocator.stats();
    for (const s of stats) this.metrics.setPool(s.name, (s.ipv4?.total ?? 0n) + (s.ipv6?.total ?? 0n), (s.ipv4?.inUse ?? 0) + (s.ipv6?.inUse ?? 0));
    this.metrics.retainPools(stats.map((s) => s.name));
    this.reportPoolStatus(term, stats);
  }

  /** The leader's counts per pool in force, to the IPAddressPools' status (only what changed is written). */
  private reportPoolStatus(term: Term, stats = term.allocator.stats()): void {
    if (!this.poolStatus || !this.current(term)) return;
    this.poolStatus.report(new Map(stats.map((s) => [s.name, poolCountsOf(s)])));
  }

  /** What the handled Services hold per their statuses: the input of the config rule, as every speaker sees it. */
  private *heldByStatuses(): Generator<HeldAddresses> {
    for (const svc of this.services.list()) {
      const held = heldByStatus(svc as ServiceObject, this.opts.lbClass);
      if (held) yield held;
    }
  }

  /** Evaluates the config source with the rule the speakers share: apply, or refuse and keep the old config. */
  private reloadConfig(term: Term): void {
    const input = this.source.input();
    const verdict = evaluateInput(input, this.heldByStatuses(), term.appliedText, term.config);
    const inForce = term.hash ?? 'none';
    // Where a CR user looks beside the Events; the same verdict gives the same state, so a restart or
    // a resync writes nothing (kube/configuration-state.ts compares first).
    this.state?.report(configStateOf(verdict, this.source.source, term.config && term.hash ? { config: term.config, hash: term.hash } : undefined, this.source.describe()));
    const refuse = (note: string, log: () => void): void => {
      this.metrics.configRefused();
      if (note !== term.lastRefusal) log();
      term.lastRefusal = note;
    };
    term.configMissing = verdict.kind === 'missing';
    if (verdict.kind !== 'breaking') term.refusedKeys.clear();
    switch (verdict.kind) {
      case 'missing': {
        term.refusedBreaking = false;
        const unread = verdict.unread && unreadNote(verdict.unread);
        refuse(`missing ${unread ?? ''}`, () => {
          this.log.warn(
            { event: 'configMissing', config: inForce, reason: `${this.source.describe()} not found${unread ? `; ${unread}` : ''}` },
            term.appliedText === undefined ? `no config (${this.source.describe()}): nothing is allocated until it exists` : `config deleted (${this.source.describe()}): keeping the last config`,
          );
          // Where a MetalLB user looks: on their objects.
          if (unread) for (const subject of this.source.crSubjects()) this.recorder?.record(subject, 'Warning', 'ConfigNotRead', 'LoadConfig', unread);
        });
        return;
      }
      case 'unchanged':
        term.refusedBreaking = false;
        term.lastRefusal = undefined;
        this.metrics.configApplied();
        return;
      case 'invalid': {
        term.refusedBreaking = false;
        const events = refusalEvents(verdict, this.source.source);
        refuse(events.map((e) => e.note).join('\n'), () => {
          this.configEvents(events);
          this.log.error({ event: 'configInvalid', config: inForce, reason: verdict.issues.map((i) => `${i.path}: ${i.message}`).join('; ') }, `config refused: invalid; config ${inForce} stays in force`);
        });
        return;
      }
      case 'breaking': {
        term.refusedBreaking = true;
        term.refusedKeys = new Set(verdict.breaking.map((c) => c.key));
        const events = refusalEvents(verdict, this.source.source);
        refuse(events.map((e) => e.note).join('\n'), () => {
          this.configEvents(events);
          for (const c of verdict.breaking) {
            for (const ip of c.ips) {
              this.log.error({ event: 'configRefused', config: inForce, service: c.key, ip: ip.ip, reason: ip.reason }, `config ${verdict.hash} refused: it would break ${c.key}; config ${inForce} stays in force`);
            }
          }
        });
        return;
      }
      case 'apply': {
        const first = term.appliedText === undefined;
        term.allocator.setConfig(verdict.config);
        term.appliedText = inputText(input);
        term.config = verdict.config;
        term.hash = verdict.hash;
        term.refusedBreaking = false;
        term.lastRefusal = undefined;
        this.metrics.configAccepted(verdict.hash);
        this.poolMetrics(term);
        this.configEvents(loadedEvents(verdict, this.source.source));
        this.log.info({ event: 'configLoaded', config: verdict.hash, reason: `${verdict.config.pools.length} pools, ${verdict.config.peers.length} peers` }, `config ${verdict.hash} ${first ? 'loaded' : 'reloaded'}`);
        for (const w of verdict.warnings) this.log.warn({ event: 'configWarning', config: verdict.hash, reason: `${w.path}: ${w.message}` }, 'config warning');
        // Every Service (not only pending ones): the first load starts all allocation, and a changed
        // pool may change which addresses satisfy which Service. Unchanged ones write nothing.
        for (const key of this.services.keys()) term.queue.add(key);
        for (const key of term.deletedWhileStarting) term.queue.add(key);
        term.deletedWhileStarting.clear();
        term.pending.clear();
        return;
      }
    }
  }
}
