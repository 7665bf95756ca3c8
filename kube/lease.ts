// Lease helpers (coordination.k8s.io/v1) with optimistic concurrency: every write carries the
// resourceVersion it was computed from, so of two contenders exactly one wins. Expiry is judged
// by the local time the holder's last renewal was *observed*, not by the renewTime it wrote, so
// clock skew between nodes cannot steal a lease early (client-go leader election does the same).
// Leases are read and written as plain JSON: the V1Lease model's time fields hold MicroTime strings
// here (never Dates), and nothing reads them.
import type { V1Lease } from '@kubernetes/client-node';
import type { KubeAccess } from './access.js';
import { systemClock, type Clock } from './clock.js';
import { errorStatus, kubeRequest } from './request.js';
import { microTime } from './timestamps.js';

export interface LeaseOptions {
  namespace: string;
  name: string;
  /** Who we are (holderIdentity), e.g. the node or Pod name. */
  identity: string;
  /** How long a renewal holds the lease. */
  durationSeconds: number;
  clock?: Clock;
  /** Labels set when the Lease is created. */
  labels?: Record<string, string>;
}

export type LeaseOutcome =
  | { kind: 'held'; lease: V1Lease }
  | { kind: 'taken'; holder: string; lease: V1Lease }
  | { kind: 'conflict' };

export class LeaseLock {
  private readonly path: string;
  private readonly clock: Clock;
  /** resourceVersion of the record last seen, and the local time it was first seen. */
  private observed: { rv: string; at: number } | undefined;

  constructor(
    private readonly kc: KubeAccess,
    private readonly opts: LeaseOptions,
  ) {
    this.path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(opts.namespace)}/leases`;
    this.clock = opts.clock ?? systemClock;
  }

  /** Notes a version of the Lease seen elsewhere too (a watch): expiry counts from its first sighting. */
  observe(lease: V1Lease): number {
    const rv = lease.metadata?.resourceVersion ?? '';
    if (this.observed?.rv !== rv) this.observed = { rv, at: this.clock.now() };
    return this.observed.at;
  }

  private expired(lease: V1Lease): boolean {
    const holder = lease.spec?.holderIdentity;
    if (!holder) return true;
    const seenAt = this.observe(lease);
    return this.clock.now() >= seenAt + (lease.spec?.leaseDurationSeconds ?? this.opts.durationSeconds) * 1000;
  }

  /**
   * Acquires the lease if it is free or expired, renews it if we hold it. 'taken': someone else
   * holds a live lease; 'conflict': another writer changed it between our read and write (retry later).
   */
  async acquireOrRenew(): Promise<LeaseOutcome> {
    const { namespace, name, identity } = this.opts;
    const now = microTime(this.clock.now());
    let current: V1Lease;
    try {
      current = await this.read();
    } catch (err) {
      if (errorStatus(err) !== 404) throw err;
      try {
        const lease = (await kubeRequest(this.kc, 'POST', this.path, {
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace, labels: this.opts.labels },
            spec: { holderIdentity: identity, leaseDurationSeconds: this.opts.durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
          },
        })) as V1Lease;
        this.observe(lease);
        return { kind: 'held', lease };
      } catch (e) {
        if (errorStatus(e) === 409) return { kind: 'conflict' };
        throw e;
      }
    }
    const spec = current.spec ?? {};
    const ours = spec.holderIdentity === identity;
    if (!ours && !this.expired(current)) return { kind: 'taken', holder: spec.holderIdentity ?? '', lease: current };
    const body = {
      ...current,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: this.opts.durationSeconds,
        renewTime: now,
        acquireTime: ours ? spec.acquireTime : now,
        leaseTransitions: ours ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      const lease = await this.replace(body);
      this.observe(lease);
      return { kind: 'held', lease };
    } catch (err) {
      if (errorStatus(err) === 409) return { kind: 'conflict' };
      throw err;
    }
  }

  /** Gives the lease up if we hold it (others may take it at once). Returns whether we released it. */
  async release(): Promise<boolean> {
    const { identity } = this.opts;
    let current: V1Lease;
    try {
      current = await this.read();
    } catch (err) {
      if (errorStatus(err) === 404) return false;
      throw err;
    }
    if (current.spec?.holderIdentity !== identity) return false;
    const now = microTime(this.clock.now());
    try {
      // An empty holder is free for anyone, whatever the observed time.
      await this.replace({ ...current, spec: { ...current.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: now } });
      return true;
    } catch (err) {
      if (errorStatus(err) === 409) return false;
      throw err;
    }
  }

  /** The current Lease, or undefined if it does not exist. */
  async get(): Promise<V1Lease | undefined> {
    try {
      return await this.read();
    } catch (err) {
      if (errorStatus(err) === 404) return undefined;
      throw err;
    }
  }

  private async read(): Promise<V1Lease> {
    return (await kubeRequest(this.kc, 'GET', `${this.path}/${encodeURIComponent(this.opts.name)}`)) as V1Lease;
  }

  /** PUT with the read resourceVersion in the body: a concurrent writer makes it fail with 409. */
  private async replace(body: object): Promise<V1Lease> {
    return (await kubeRequest(this.kc, 'PUT', `${this.path}/${encodeURIComponent(this.opts.name)}`, { body })) as V1Lease;
  }
}
