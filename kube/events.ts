// Kubernetes Events that aggregate instead of storming: the first occurrence of an event is
// created at once; repeats of the same (object, type, reason, action, note) only bump a counter
// in memory, written at most once per flush interval as the Event's series count
// (events.k8s.io/v1) or count (core v1, used when events.k8s.io/v1 is not served).
import { createHash, randomBytes } from 'node:crypto';
import type { KubeAccess } from './access.js';
import { atLeastRetryAfter, backoffDelay, type BackoffOptions } from './backoff.js';
import { sleep, systemClock, type Clock, type TimerHandle } from './clock.js';
import { eventNote, eventReason } from './event-text.js';
import { errorStatus, kubeRequest } from './request.js';
import { retrying, type RetryOptions } from './retry.js';
import { microTime, wholeSecondsTime } from './timestamps.js';

export type EventsApi = 'events.k8s.io/v1' | 'v1';
export type EventType = 'Normal' | 'Warning';

/** The object an event is about. */
export interface EventSubject {
  apiVersion?: string;
  kind: string;
  name: string;
  /** Empty for cluster-scoped objects (their events go to kube-system, or default with core v1 Events). */
  namespace?: string;
  uid?: string;
}

export interface EventRecorderOptions {
  /** e.g. "herald.io/controller". */
  reportingController: string;
  /** e.g. the Pod or node name. */
  reportingInstance: string;
  /** Force an API instead of discovering it. */
  api?: EventsApi;
  /** Discovery is retried until it succeeds (an unreachable API server must not end a daemon); onRetry reports each failure. */
  retry?: RetryOptions;
  clock?: Clock;
  /** Repeats are written at most this often per event. Default 10 s. */
  flushIntervalMs?: number;
  /** Forget an aggregate this long after its last occurrence (a later one starts a new Event). Default 10 min. */
  ttlMs?: number;
  /** Cap on aggregates kept in memory; the least recently seen are forgotten first. Default 4096. */
  maxEntries?: number;
  /** Write failures (events are best effort: never thrown at the caller). */
  onError?: (err: unknown) => void;
  /**
   * A failed write (network or API error) is retried this many times with backoff before the
   * occurrence is given up (each failure goes to onError). Default 8: 1 s doubling to 60 s, about 3 min.
   */
  maxRetries?: number;
  /** Backoff between write retries; default 1 s doubling to 60 s. */
  retryBackoff?: Partial<BackoffOptions>;
}

interface Aggregate {
  name: string;
  namespace: string;
  count: number;
  written: number;
  first: number;
  last: number;
  /** Serializes writes of one aggregate: create, then count updates. */
  chain: Promise<void>;
  timer: TimerHandle | undefined;
}


/**
 * What aggregates: the same object, type, reason, action and note. Kept as the SHA-256 of all of
 * them (32 one-byte characters), not the text: up to 4,096 are held, and the text repeats each
 * note (~160 characters for a Service's nodeAssigned: ~0.5 MB at the cap). A collision would need
 * a SHA-256 collision.
 */
function aggregateKey(subject: EventSubject, type: EventType, reason: string, action: string, note: string): string {
  return createHash('sha256')
    .update(JSON.stringify([subject.kind, subject.namespace ?? '', subject.name, subject.uid ?? '', type, reason, action, note]))
    .digest()
    .toString('latin1');
}

/** events.k8s.io/v1 when served, else core v1. */
export async function discoverEventsApi(kc: KubeAccess): Promise<EventsApi> {
  try {
    const list = (await kubeRequest(kc, 'GET', '/apis/events.k8s.io/v1')) as { resources?: { name: string }[] };
    if (list.resources?.some((r) => r.name === 'events')) return 'events.k8s.io/v1';
  } catch (err) {
    if (errorStatus(err) !== 404) throw err;
  }
  return 'v1';
}

export class EventRecorder {
  private readonly entries = new Map<string, Aggregate>();
  private readonly clock: Clock;
  /** Aborted by close(): retries waiting for their next attempt give up, so shutdown is not held by an outage. */
  private readonly closing = new AbortController();

  private constructor(
    private readonly kc: KubeAccess,
    readonly api: EventsApi,
    private readonly opts: EventRecorderOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
  }

  static async create(kc: KubeAccess, opts: EventRecorderOptions): Promise<EventRecorder> {
    return new EventRecorder(kc, opts.api ?? (await retrying(() => discoverEventsApi(kc), opts.retry)), opts);
  }

  /** Records one occurrence; returns at once (writes happen in the background, see flush()). */
  record(subject: EventSubject, type: EventType, reason: string, action: string, note: string): void {
    const now = this.clock.now();
    const key = aggregateKey(subject, type, reason, action, note);
    let agg = this.entries.get(key);
    if (agg && now - agg.last > (this.opts.ttlMs ?? 600_000)) {
      this.drop(key, agg);
      agg = undefined;
    }
    if (!agg) {
      this.evict();
      agg = {
        // join(): one flat string (a template keeps cons strings and the hex string besides: ~50 bytes more each, 4,096 kept).
        name: [subject.name, randomBytes(8).toString('hex')].join('.'),
        // Cluster-scoped subjects: events.k8s.io/v1 Events must live in kube-system (1.20 accepts no
        // other; later versions also take default), core v1 Events in default.
        namespace: subject.namespace || (this.api === 'v1' ? 'default' : 'kube-system'),
        count: 1,
        written: 0,
        first: now,
        last: now,
        chain: Promise.resolve(),
        timer: undefined,
      };
      this.entries.set(key, agg);
      const a = agg;
      a.chain = a.chain.then(() => this.withRetries(() => this.createEvent(a, subject, type, reason, action, note)));
      return;
    }
    // Map order is insertion order: re-insert so eviction drops the least recently seen.
    this.entries.delete(key);
    this.entries.set(key, agg);
    agg.count++;
    agg.last = now;
    if (agg.timer === undefined) {
      const a = agg;
      a.timer = this.clock.setTimeout(() => {
        a.timer = undefined;
        this.writeCount(a);
      }, this.opts.flushIntervalMs ?? 10_000);
    }
  }

  private evict(): void {
    const max = this.opts.maxEntries ?? 4096;
    while (this.entries.size >= max) {
      const [key, agg] = this.entries.entries().next().value as [string, Aggregate];
      this.drop(key, agg);
    }
  }

  /** Forgets an aggregate, writing its pending count first. */
  private drop(key: string, agg: Aggregate): void {
    if (agg.timer !== undefined) this.clock.clearTimeout(agg.timer);
    agg.timer = undefined;
    this.writeCount(agg);
    this.entries.delete(key);
  }

  private writeCount(a: Aggregate): void {
    a.chain = a.chain.then(() =>
      this.withRetries(async () => {
        if (a.count === a.written || a.written === 0) return; // nothing new, or the create failed
        const count = a.count;
        const path = `${this.collection(a.namespace)}/${a.name}`;
        const body = this.api === 'v1' ? { count, lastTimestamp: wholeSecondsTime(a.last) } : { series: { count, lastObservedTime: microTime(a.last) } };
        await kubeRequest(this.kc, 'PATCH', path, { body, contentType: 'application/merge-patch+json' });
        a.written = count;
      }),
    );
  }

  /** Runs one write, retrying failures with backoff (each reported); never rejects. */
  private async withRetries(write: () => Promise<void>): Promise<void> {
    const max = this.opts.maxRetries ?? 8;
    for (let attempt = 0; ; attempt++) {
      let failure: unknown;
      try {
        await write();
        return;
      } catch (err) {
        this.opts.onError?.(err);
        if (attempt >= max || this.closing.signal.aborted) return;
        failure = err;
      }
      try {
        await sleep(this.clock, atLeastRetryAfter(backoffDelay(attempt, { initialMs: 1000, maxMs: 60_000, ...this.opts.retryBackoff }), failure), this.closing.signal);
      } catch {
        return; // closing
      }
    }
  }

  private async createEvent(a: Aggregate, s: EventSubject, type: EventType, reason: string, action: string, note: string): Promise<void> {
    const count = a.count;
    const ref = { apiVersion: s.apiVersion, kind: s.kind, name: s.name, namespace: s.namespace || undefined, uid: s.uid };
    const metadata = { name: a.name, namespace: a.namespace };
    const body =
      this.api === 'events.k8s.io/v1'
        ? {
            apiVersion: 'events.k8s.io/v1',
            kind: 'Event',
            metadata,
            eventTime: microTime(a.first),
            reportingController: this.opts.reportingController,
            reportingInstance: this.opts.reportingInstance,
            action: eventReason(action),
            reason: eventReason(reason),
            type,
            note: eventNote(note),
            regarding: ref,
          }
        : {
            apiVersion: 'v1',
            kind: 'Event',
            metadata,
            involvedObject: ref,
            reason: eventReason(reason),
            message: eventNote(note),
            type,
            action: eventReason(action),
            count: 1,
            firstTimestamp: wholeSecondsTime(a.first),
            lastTimestamp: wholeSecondsTime(a.first),
            source: { component: this.opts.reportingController, host: this.opts.reportingInstance },
            reportingComponent: this.opts.reportingController,
            reportingInstance: this.opts.reportingInstance,
          };
    try {
      await kubeRequest(this.kc, 'POST', this.collection(a.namespace), { body });
    } catch (err) {
      // A retry after a create whose answer was lost: the name is ours alone, so it exists.
      if (errorStatus(err) !== 409) throw err;
    }
    a.written = 1;
    if (a.count > count && a.timer === undefined) this.writeCount(a);
  }

  private collection(namespace: string): string {
    const ns = encodeURIComponent(namespace);
    return this.api === 'v1' ? `/api/v1/namespaces/${ns}/events` : `/apis/events.k8s.io/v1/namespaces/${ns}/events`;
  }

  /** Writes every pending count now and waits for all writes in flight. */
  async flush(): Promise<void> {
    for (const a of this.entries.values()) {
      if (a.timer !== undefined) {
        this.clock.clearTimeout(a.timer);
        a.timer = undefined;
      }
      this.writeCount(a);
    }
    await Promise.all([...this.entries.values()].map((a) => a.chain));
  }

  /** Flushes (one attempt per pending write: retries waiting are given up) and forgets everything (call on shutdown). */
  async close(): Promise<void> {
    this.closing.abort(new Error('event recorder closed'));
    await this.flush();
    this.entries.clear();
  }
}
