// The speaker's own membership Lease `herald-speaker-<node>`: created at start, replaced every
// renew interval (one write per interval, whatever the number of Services), deleted on graceful
// shutdown so the other speakers drop this node at once. spec.acquireTime is when this speaker's
// current life began (set at start, and again after it fenced itself, since the others have then
// dropped it): the layer2 owner rule keeps VIPs with speakers older than the Service (layer2-owner.ts). Each success reports the monotonic time
// its request was *sent* to Fencing; failures only count (fencing follows from time passing).
// It also reports whether renewals are healthy, so that the speaker's Events yield to the Lease:
// unhealthy from start until the first success, while a renewal is in flight longer than `slowMs`,
// and after a renewal that failed or took longer; healthy again after a success within `slowMs`.
// A failed renewal is tried again before the next interval (renewal 10 s, duration 30 s: waiting a
// whole interval left two attempts before fencing), after a backoff from RETRY_MS doubling, never
// before the server's Retry-After (a throttled API server, 429), and spread by jitter over [d, 2d)
// so that the speakers a throttled server turned away together do not come back together.
//
// With liveness on (README: Scale, the Lease split) each speaker writes two Leases, both through
// this class: the membership Lease above, labelled and watched by every speaker, written only on a
// change (a new life, its annotations or labels), and fast while the speaker has no liveness quorum
// (`periodic: false`); and the heartbeat Lease `herald-heartbeat-<node>`, unlabelled (no speaker's
// watch carries it), renewed every renew interval: what self-fencing follows. Periodic renewals of
// the membership Lease cost every watcher an event each, N² / 10 s events/s for N nodes; changes
// only are flat in N. While a peer does not advertise the split (an older speaker: it expires the
// Leases that stop changing) the speaker renews the membership Lease periodically too (setPeriodic).
import type { KubeAccess } from '../kube/access.js';
import { errorStatus, kubeRequest, retryAfterOf } from '../kube/request.js';
import { microTime } from '../kube/timestamps.js';
import type { Clock, TimerHandle } from '../protocols/clock.js';
import { VERSION as LIVENESS_NEWEST, type WireVersion } from '../protocols/liveness/message.js';
import { leaseLabels } from './node-exclusion.js';
import { encodeNodeLabels, NODE_LABELS_ANNOTATION } from './node-labels.js';

/** Label on every speaker Lease, so the speakers' Lease watch sees only each other. */
export const SPEAKER_LEASE_LABEL = 'app.kubernetes.io/component';
export const SPEAKER_LEASE_LABEL_VALUE = 'herald-speaker';
export const SPEAKER_LEASE_PREFIX = 'herald-speaker-';

/** Annotation on a speaker Lease: where its liveness protocol listens (protocols/liveness). */
export const LIVENESS_ANNOTATION = 'herald.io/liveness';

/**
 * Annotation on a speaker Lease: the newest liveness wire version its speaker reads, bound to the
 * Lease's life, `<version>@<acquireTime ms>` (protocols/liveness/wire.ts: the upgrade rule). The
 * life binds it: a speaker from before version 2 that takes the Lease over keeps annotations it does
 * not know, with its own new life, and must not be taken to read version 2.
 */
export const LIVENESS_WIRE_ANNOTATION = 'herald.io/liveness-wire';

/** The version a Lease advertises (1: none, or one written in another life than the Lease's). */
export function leaseLivenessWire(annotations: Record<string, string> | undefined, acquiredMs: number | undefined): WireVersion {
  const m = /^(\d+)@(\d+)$/.exec(annotations?.[LIVENESS_WIRE_ANNOTATION] ?? '');
  if (!m || acquiredMs === undefined || Number(m[2]) !== acquiredMs) return 1;
  // A newer speaker reads what we send (each version reads the older ones): our newest at most.
  const v = Number(m[1]);
  return v >= LIVENESS_NEWEST ? LIVENESS_NEWEST : v >= 2 ? (v as WireVersion) : 1;
}

/** First retry delay after a failed renewal (then doubling, at most the renew interval). */
export const RETRY_MS = 1000;

/**
 * Annotation on a membership Lease: its speaker writes a heartbeat Lease and renews this one only on
 * a change (peers must not expire it for silence). Bound to the life as `<acquireTime ms>`, like
 * LIVENESS_WIRE_ANNOTATION: an older speaker taking the Lease over keeps annotations it does not know.
 */
export const HEARTBEAT_ANNOTATION = 'herald.io/heartbeat';

/** Whether a membership Lease advertises the split for its current life (HEARTBEAT_ANNOTATION). */
export function leaseHasHeartbeat(annotations: Record<string, string> | undefined, acquiredMs: number | undefined): boolean {
  const v = annotations?.[HEARTBEAT_ANNOTATION];
  return v !== undefined && acquiredMs !== undefined && v === String(acquiredMs);
}

export function speakerLeaseName(node: string): string {
  return `${SPEAKER_LEASE_PREFIX}${node}`;
}

/**
 * The heartbeat Lease's name. Not `herald-speaker-hb-<node>`: that is also the membership Lease of
 * a node named `hb-<node>`; no membership Lease name starts with `herald-heartbeat-`.
 */
export const HEARTBEAT_LEASE_PREFIX = 'herald-heartbeat-';
export function heartbeatLeaseName(node: string): string {
  return `${HEARTBEAT_LEASE_PREFIX}${node}`;
}

export interface SpeakerLeaseOptions {
  kubeConfig: KubeAccess;
  namespace: string;
  node: string;
  clock: Clock;
  renewMs: number;
  /** The interval while setFast(true) (the liveness gate, without quorum: see liveness-gate.ts). Default renewMs. */
  fastRenewMs?: number;
  leaseDurationMs: number;
  /** Published as the annotation LIVENESS_ANNOTATION ("address:port" of this speaker's liveness socket). */
  livenessAddress?: string;
  /** Published as LIVENESS_WIRE_ANNOTATION with this life: the newest liveness wire version the speaker reads. */
  livenessWire?: WireVersion;
  /** A renewal request sent at `sentAt` (monotonic) succeeded. */
  onRenewed: (sentAt: number) => void;
  onFailed: (err: unknown) => void;
  /** Renewals became healthy (true) or unhealthy (false); called on change only. */
  onHealth?: (healthy: boolean) => void;
  /**
   * A renewal in flight longer than this is unhealthy. Default a quarter of `renewMs`: a Lease
   * write normally takes milliseconds, so this is an API server (or our event loop) ten times and
   * more slower than usual, still well before fencing (leaseDurationMs after the last success).
   */
  slowMs?: number;
  /** Jitter source in [0, 1) for retries after a failure; injectable for tests. Default Math.random. */
  random?: () => number;
  /** The heartbeat Lease (heartbeatLeaseName): no label, no annotations. Default: the membership Lease. */
  heartbeat?: boolean;
  /** Membership Lease: advertise HEARTBEAT_ANNOTATION (this speaker also writes a heartbeat Lease). */
  advertiseHeartbeat?: boolean;
  /** Renew every renewMs (default true); false: write only on a change, when fast, or to retry (setPeriodic). */
  periodic?: boolean;
}

interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

interface LeaseJson {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: OwnerReference[] };
  spec?: Record<string, unknown>;
}

export class SpeakerLease {
  private readonly path: string;
  private readonly name: string;
  private current: LeaseJson | undefined;
  private timer: TimerHandle | undefined;
  private running = false;
  /** The renewal in flight (cleared when it settles; no timer is armed meanwhile). */
  private inFlight: Promise<void> | undefined;
  private slowTimer: TimerHandle | undefined;
  private healthy = false;
  /** When this life began (wall clock, ms) and the same as the Lease's acquireTime (MicroTime string). */
  private lifeMs = Date.now();
  private life = microTime(this.lifeMs);
  /** Lease writes sent (a benchmark figure: it must not grow with Services). */
  writes = 0;
  /** This node is excluded from load balancing: published as a Lease label on the next write. */
  private excluded = false;
  /** This node's labels, published as NODE_LABELS_ANNOTATION on the next write (node-labels.ts). */
  private nodeLabels: string | undefined;
  private fast = false;
  /** This node's Node UID: the Lease's owner, so that the garbage collector deletes it with the Node. */
  private nodeUid: string | undefined;
  /** Monotonic time the last renewal was sent. */
  private lastSentAt = 0;
  /** Write again as soon as the renewal in flight settles (renewSoon). */
  private soon = false;
  /** Failed renewals in a row, and when to try again after the last one (monotonic). */
  private failuresInRow = 0;
  private retryAt: number | undefined;
  /** No write before this (the last failure's Retry-After), whatever asks for one. */
  private notBefore = 0;
  private periodic: boolean;

  constructor(private readonly opts: SpeakerLeaseOptions) {
    this.name = opts.heartbeat ? heartbeatLeaseName(opts.node) : speakerLeaseName(opts.node);
    this.periodic = opts.periodic ?? true;
    this.path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(opts.namespace)}/leases`;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.lifeMs = Date.now();
    this.life = microTime(this.lifeMs);
    this.tick();
  }

  /** Stops renewing and deletes the Lease (best effort, bounded by `timeoutMs`). */
  async stop(timeoutMs = 2000): Promise<void> {
    this.running = false;
    if (this.timer) this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.clearSlowTimer();
    await this.inFlight?.catch(() => undefined);
    try {
      await kubeRequest(this.opts.kubeConfig, 'DELETE', `${this.path}/${this.name}`, { timeoutMs });
      this.writes++;
    } catch (err) {
      if (errorStatus(err) !== 404) this.opts.onFailed(err);
    }
  }

  private tick(): void {
    if (!this.running) return;
    const sentAt = this.opts.clock.now();
    const slowMs = this.opts.slowMs ?? this.opts.renewMs / 4;
    this.clearSlowTimer();
    this.slowTimer = this.opts.clock.setTimeout(() => {
      this.slowTimer = undefined;
      this.setHealthy(false);
    }, slowMs);
    const renewal = this.renew().then(
      () => {
        this.inFlight = undefined;
        this.clearSlowTimer();
        this.failuresInRow = 0;
        this.retryAt = undefined;
        if (!this.running) return;
        this.setHealthy(this.opts.clock.now() - sentAt <= slowMs);
        this.opts.onRenewed(sentAt);
      },
      (err: unknown) => {
        this.inFlight = undefined;
        this.clearSlowTimer();
        // Re-read before the next write (it may have happened), unless it was turned away (429).
        if (errorStatus(err) !== 429) this.current = undefined;
        this.failuresInRow++;
        const now = this.opts.clock.now();
        this.retryAt = now + this.retryDelay(err);
        this.notBefore = now + (retryAfterOf(err) ?? 0);
        if (!this.running) return;
        this.setHealthy(false);
        this.opts.onFailed(err);
      },
    );
    this.inFlight = renewal;
    this.lastSentAt = sentAt;
    void renewal.then(() => this.arm());
  }

  /** The next renewal, one interval after the last was sent (not after it finished), so slow answers do not stretch the interval. */
  private arm(): void {
    if (!this.running) return;
    if (this.timer) this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const interval = this.fast ? (this.opts.fastRenewMs ?? this.opts.renewMs) : this.periodic ? this.opts.renewMs : Infinity;
    const due = this.soon ? 0 : Math.min(this.lastSentAt + interval, this.retryAt ?? Infinity);
    if (due === Infinity) return; // changes only: the next write is asked for (renewSoon, setFast, setPeriodic)
    const wait = Math.max(0, due - this.opts.clock.now(), this.notBefore - this.opts.clock.now());
    this.soon = false;
    this.timer = this.opts.clock.setTimeout(() => {
      this.timer = undefined;
      this.tick();
    }, wait);
  }

  /**
   * Renew at the fast interval (true) or the normal one. Switching to fast renews at once unless a
   * renewal is in flight: the liveness gate waits for a renewal sent after the quorum loss.
   */
  setFast(fast: boolean): void {
    if (fast === this.fast) return;
    this.fast = fast;
    // In flight: the interval is picked when it settles.
    if (!this.running || this.inFlight) return;
    if (!fast) {
      this.arm(); // back to renewMs after the last one sent, not one more fast renewal
      return;
    }
    this.writeNow();
  }

  /** Write at once, or when the last 429's Retry-After has passed. */
  private writeNow(): void {
    if (this.timer) this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.notBefore <= this.opts.clock.now()) return this.tick();
    this.soon = true;
    this.arm();
  }

  /**
   * Renew every renewMs (true), or only on a change (false: the membership Lease once every peer
   * advertises the split). Switching to periodic writes at once if an interval has passed.
   */
  setPeriodic(periodic: boolean): void {
    if (periodic === this.periodic) return;
    this.periodic = periodic;
    if (this.running && !this.inFlight) this.arm();
  }

  /** Whether renewals are periodic now (setPeriodic). */
  get isPeriodic(): boolean {
    return this.periodic;
  }

  /** Write once more as soon as possible (e.g. so that this speaker sees its own Lease change after an outage). */
  touch(): void {
    this.renewSoon();
  }

  /**
   * Begin a new life (acquireTime = now on the next write): the speaker fenced itself, so the others
   * dropped it and handed its VIPs over; coming back it must not count as older than their Services.
   */
  newLife(): void {
    this.lifeMs = Date.now();
    this.life = microTime(this.lifeMs);
    this.renewSoon();
  }

  /**
   * The next write as soon as possible (at once, or right after the one in flight): the others end
   * their verdict on this speaker, and count it as a candidate again, only once they see the new
   * life, which must not wait up to a whole renew interval (10 s with liveness).
   */
  private renewSoon(): void {
    if (!this.running) return;
    if (this.inFlight) {
      this.soon = true; // in flight
      return;
    }
    this.writeNow();
  }

  /** After a failure: the backoff, at least the server's Retry-After, jittered over [d, 2d) but not past the interval unless Retry-After says so. */
  private retryDelay(err: unknown): number {
    const interval = this.fast ? (this.opts.fastRenewMs ?? this.opts.renewMs) : this.opts.renewMs;
    const retryAfter = retryAfterOf(err) ?? 0;
    const backoff = RETRY_MS * 2 ** Math.min(this.failuresInRow - 1, 16);
    const base = Math.max(retryAfter, backoff);
    return Math.max(retryAfter, Math.min(interval, base * (1 + (this.opts.random ?? Math.random)())));
  }

  /** When this life began (ms since the epoch): the acquireTime of our next writes. */
  get lifeStartedAt(): number {
    return this.lifeMs;
  }

  /** Publish (from the next renewal on; at once when not periodic) whether this node is excluded from load balancing (node-exclusion.ts). */
  setExcluded(excluded: boolean): void {
    if (excluded === this.excluded) return;
    this.excluded = excluded;
    if (!this.periodic) this.renewSoon();
  }

  /** Publish (from the next renewal on; at once when not periodic) this node's labels (node-labels.ts). */
  setNodeLabels(labels: Readonly<Record<string, string>>): void {
    const encoded = encodeNodeLabels(labels);
    if (encoded === this.nodeLabels) return;
    this.nodeLabels = encoded;
    if (!this.periodic) this.renewSoon();
  }

  /**
   * Make this node's Node the Lease's owner (from the next write; at once when not periodic): a Node
   * deleted from the cluster takes its speaker's Leases with it (kube-controller-manager's garbage
   * collector), instead of leaving them for every speaker to list.
   */
  setOwnerNode(uid: string | undefined): void {
    if (uid === undefined || uid === '' || uid === this.nodeUid) return;
    this.nodeUid = uid;
    if (!this.periodic) this.renewSoon();
  }

  /** Whether renewals are healthy now (see the header). */
  get isHealthy(): boolean {
    return this.healthy;
  }

  private setHealthy(healthy: boolean): void {
    if (this.healthy === healthy) return;
    this.healthy = healthy;
    this.opts.onHealth?.(healthy);
  }

  private clearSlowTimer(): void {
    if (this.slowTimer) this.opts.clock.clearTimeout(this.slowTimer);
    this.slowTimer = undefined;
  }

  private annotate(metadata: NonNullable<LeaseJson['metadata']>): NonNullable<LeaseJson['metadata']> {
    if (this.opts.heartbeat) return metadata;
    const annotations = { ...metadata.annotations };
    if (this.opts.advertiseHeartbeat) annotations[HEARTBEAT_ANNOTATION] = String(this.lifeMs);
    if (this.opts.livenessAddress !== undefined) annotations[LIVENESS_ANNOTATION] = this.opts.livenessAddress;
    if (this.opts.livenessWire !== undefined) annotations[LIVENESS_WIRE_ANNOTATION] = `${this.opts.livenessWire}@${this.lifeMs}`;
    if (this.nodeLabels !== undefined) annotations[NODE_LABELS_ANNOTATION] = this.nodeLabels;
    if (Object.keys(annotations).length === 0) return metadata;
    return { ...metadata, annotations };
  }

  private owned(metadata: NonNullable<LeaseJson['metadata']>): NonNullable<LeaseJson['metadata']> {
    if (this.nodeUid === undefined) return metadata;
    return { ...metadata, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: this.opts.node, uid: this.nodeUid }] };
  }

  private body(): LeaseJson {
    const now = microTime(Date.now()); // wall time: the monotonic clock is for fencing only
    const spec = {
      holderIdentity: this.opts.node,
      leaseDurationSeconds: Math.max(1, Math.ceil(this.opts.leaseDurationMs / 1000)),
      renewTime: now,
      acquireTime: this.life,
    };
    if (this.opts.heartbeat) {
      // No label: the speakers' Lease watch (by label) never carries its renewals.
      if (this.current) return { ...this.current, metadata: this.owned({ ...this.current.metadata }), spec: { ...this.current.spec, ...spec } };
      return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: this.owned({ name: this.name, namespace: this.opts.namespace }), spec };
    }
    if (this.current) {
      const metadata = { ...this.current.metadata, labels: leaseLabels({ ...this.current.metadata?.labels, [SPEAKER_LEASE_LABEL]: SPEAKER_LEASE_LABEL_VALUE }, this.excluded) };
      return { ...this.current, metadata: this.owned(this.annotate(metadata)), spec: { ...this.current.spec, ...spec } };
    }
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: this.owned(this.annotate({ name: this.name, namespace: this.opts.namespace, labels: leaseLabels({ [SPEAKER_LEASE_LABEL]: SPEAKER_LEASE_LABEL_VALUE }, this.excluded) })),
      spec,
    };
  }

  /** One write: replace the Lease we know (409/404: re-read or create, then write once more). */
  private async renew(): Promise<void> {
    // A request may not outlive the lease duration: by then the speaker is fenced anyway.
    const timeoutMs = this.opts.leaseDurationMs;
    const kc = this.opts.kubeConfig;
    if (!this.current) {
      try {
        this.current = (await kubeRequest(kc, 'GET', `${this.path}/${this.name}`, { timeoutMs })) as LeaseJson;
      } catch (err) {
        if (errorStatus(err) !== 404) throw err;
        this.writes++;
        this.current = (await kubeRequest(kc, 'POST', this.path, { body: this.body(), timeoutMs })) as LeaseJson;
        return;
      }
    }
    this.writes++;
    try {
      this.current = (await kubeRequest(kc, 'PUT', `${this.path}/${this.name}`, { body: this.body(), timeoutMs })) as LeaseJson;
    } catch (err) {
      const status = errorStatus(err);
      if (status === 409 || status === 404) this.current = undefined;
      throw err;
    }
  }
}
