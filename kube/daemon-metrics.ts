// Metrics both daemons expose (config state, Kubernetes update processing, Lease renewals), each
// daemon in its own prom-client Registry. speaker/metrics.ts and controller/metrics.ts add theirs.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { KubeAccess } from './access.js';
import { onApiThrottled } from './request.js';

export interface DaemonMetricsOptions {
  /** Also export prom-client's default process_* and nodejs_* metrics (default true). */
  processMetrics?: boolean;
}

/** What the watch metrics read of an informer. */
interface WatchedInformer {
  lastEventAgeSeconds?(): number | undefined;
  readonly stats?: { readonly resumedEarly: number };
}

export class DaemonMetrics {
  readonly registry: Registry;
  readonly configLoaded: Gauge;
  readonly configStale: Gauge;
  readonly configGeneration: Gauge<'hash'>;
  readonly k8sUpdates: Counter;
  readonly k8sUpdateErrors: Counter;
  readonly leaseRenewFailures: Counter;
  readonly k8sApiErrors: Counter<'operation'>;
  readonly watchLastEvent: Gauge<'resource'>;
  readonly watchResumedEarly: Counter<'resource'>;
  readonly k8sApiThrottled: Counter;
  private accepted = 0;
  /** resource -> the informer this daemon runs for it (its age of life and its stats, read at scrape). */
  private readonly informers = new Map<string, WatchedInformer>();

  constructor(options: DaemonMetricsOptions = {}) {
    const registers = [(this.registry = new Registry())];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.configLoaded = new Gauge({
      name: 'herald_config_loaded',
      help: '1 when a valid config has been loaded and is in effect, 0 before that.',
      registers,
    });
    this.configStale = new Gauge({
      name: 'herald_config_stale',
      help: '1 when the config in effect is not the current ConfigMap (invalid, refused as breaking, or deleted).',
      registers,
    });
    this.configGeneration = new Gauge({
      name: 'herald_config_generation',
      help: 'Configs this process has put in force so far; the one series\' hash label identifies the config in force (the same hash in every daemon = the same config).',
      labelNames: ['hash'],
      registers,
    });
    this.k8sUpdates = new Counter({
      name: 'herald_k8s_updates_total',
      help: 'Kubernetes object updates (informer events) processed.',
      registers,
    });
    this.k8sUpdateErrors = new Counter({
      name: 'herald_k8s_update_errors_total',
      help: 'Kubernetes object updates whose processing failed (and was retried).',
      registers,
    });
    this.leaseRenewFailures = new Counter({
      name: 'herald_lease_renew_failures_total',
      help: 'Failed attempts to renew this process\'s Lease (speaker membership Lease, controller leader Lease).',
      registers,
    });
    this.k8sApiErrors = new Counter({
      name: 'herald_k8s_api_errors_total',
      help: 'Failed API server requests that are retried with backoff (network errors included), by operation: discovery, list_watch, event_write.',
      labelNames: ['operation'],
      registers,
    });
    this.k8sApiThrottled = new Counter({
      name: 'herald_k8s_api_throttled_total',
      help: 'API server answers 429 Too Many Requests, each waited out (its Retry-After) and retried, up to 10 times per request.',
      registers,
    });
    const informers = this.informers;
    this.watchLastEvent = new Gauge({
      name: 'herald_watch_last_event_seconds',
      help: 'Seconds since the list/watch of the resource last showed life (a list, a watch accepted, an event or a bookmark). Bookmarks come about every minute and watches are renewed every 5 min: far above that, the daemon is blind to that resource.',
      labelNames: ['resource'],
      registers,
      collect() {
        this.reset();
        for (const [resource, inf] of informers) {
          const s = inf.lastEventAgeSeconds?.();
          if (s !== undefined) this.set({ resource }, Math.round(s * 10) / 10);
        }
      },
    });
    this.watchResumedEarly = new Counter({
      name: 'herald_watch_resumed_early_total',
      help: 'Back-off pauses of a list/watch cut short because another request to the API server succeeded (the server is back): the informer retries at once instead of sleeping out the back-off grown during an outage.',
      labelNames: ['resource'],
      registers,
      collect() {
        this.reset();
        for (const [resource, inf] of informers) if (inf.stats) this.inc({ resource }, inf.stats.resumedEarly);
      },
    });
    this.configLoaded.set(0);
    this.configStale.set(0);
  }

  /** Exports `herald_watch_last_event_seconds{resource}` and `herald_watch_resumed_early_total{resource}` for an informer. */
  watchInformer(inf: WatchedInformer & { resource?: string }): void {
    if (inf.resource) this.informers.set(inf.resource, inf);
  }

  /** Counts every 429 a request to the server of `kc` waits out (herald_k8s_api_throttled_total); returns the unsubscribe. */
  countThrottled(kc: KubeAccess): () => void {
    return onApiThrottled(kc, () => this.k8sApiThrottled.inc());
  }

  /** A config was applied: loaded, not stale. */
  configApplied(): void {
    this.configLoaded.set(1);
    this.configStale.set(0);
  }

  /** A config (identified by `hash`, see configHash) was put in force: one series, counting accepts. */
  configAccepted(hash: string): void {
    this.accepted++;
    this.configGeneration.reset();
    this.configGeneration.set({ hash }, this.accepted);
    this.configApplied();
  }

  /** The latest ConfigMap was refused (invalid or breaking) or deleted: the old config stays, stale. */
  configRefused(): void {
    this.configStale.set(1);
  }
}
