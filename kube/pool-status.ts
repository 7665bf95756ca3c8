// Writes the `status` of IPAddressPools (MetalLB v0.14+'s counts: assignedIPv4, assignedIPv6,
// availableIPv4, availableIPv6) for the leading controller, through the status subresource.
// Cost: nothing is read (the stored status comes from the config source's informer cache); a pool is
// written only when its counts differ from what it shows; all writes are paced to one flush per
// `minIntervalMs` (default 1 s), so an allocation storm of any size costs each pool at most one write
// per second, the newest counts winning. API errors are retried with back-off, never fatal.
import type { KubeAccess } from './access.js';
import { Backoff } from './backoff.js';
import type { Clock, TimerHandle } from './clock.js';
import { CRD_GROUP } from './crds.js';
import { errorStatus, kubeRequest } from './request.js';

/** An IPAddressPool's status, MetalLB's field names. */
export interface PoolCounts {
  assignedIPv4: number;
  assignedIPv6: number;
  availableIPv4: number;
  availableIPv6: number;
}

const FIELDS = ['assignedIPv4', 'assignedIPv6', 'availableIPv4', 'availableIPv6'] as const;

export function sameCounts(a: Partial<PoolCounts> | undefined, b: PoolCounts): boolean {
  return a !== undefined && FIELDS.every((f) => a[f] === b[f]);
}

export interface PoolStatusWriterOptions {
  kubeConfig: KubeAccess;
  namespace: string;
  clock: Clock;
  /**
   * The pool object as the informer holds it: undefined when there is none (a ConfigMap pool, or an
   * object not seen yet: nothing to write), else its status (undefined: never written).
   */
  stored(name: string): { uid?: string; status?: Partial<PoolCounts> } | undefined;
  /** Least time between two flushes (default 1 s). */
  minIntervalMs?: number;
  onError(err: unknown): void;
  onWritten?(name: string, counts: PoolCounts): void;
}

export class PoolStatusWriter {
  private desired = new Map<string, PoolCounts>();
  /** What this process wrote last per pool object (uid): the informer may not show it yet. */
  private readonly written = new Map<string, { uid: string | undefined; counts: PoolCounts }>();
  private running = false;
  private timer: TimerHandle | undefined;
  private lastFlushAt = -Infinity;
  private closed = false;
  private readonly backoff = new Backoff({ initialMs: 1_000, maxMs: 60_000 });
  /** PATCHes sent. */
  writes = 0;

  constructor(private readonly opts: PoolStatusWriterOptions) {}

  /** The counts of every pool in force now (pools left out are not written any more). */
  report(counts: ReadonlyMap<string, PoolCounts>): void {
    if (this.closed) return;
    this.desired = new Map(counts);
    this.kick(0);
  }

  /** Leadership ended: nothing more is written until the next report (a new leader starts from the informer's view). */
  reset(): void {
    this.desired.clear();
    this.written.clear();
    this.cancel();
  }

  close(): void {
    this.closed = true;
    this.cancel();
  }

  private cancel(): void {
    if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private dirty(): [string, PoolCounts][] {
    return [...this.desired].filter(([name, want]) => {
      const obj = this.opts.stored(name);
      if (obj === undefined) return false;
      const mine = this.written.get(name);
      // A pool deleted and created again under its name starts without a status: written again.
      return !sameCounts(mine && mine.uid === obj.uid ? mine.counts : obj.status, want);
    });
  }

  private kick(delayMs: number): void {
    if (this.running || this.timer !== undefined || this.closed) return;
    const wait = Math.max(delayMs, this.lastFlushAt + (this.opts.minIntervalMs ?? 1_000) - this.opts.clock.now());
    this.timer = this.opts.clock.setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, Math.max(0, wait));
  }

  private async flush(): Promise<void> {
    if (this.running || this.closed) return;
    const todo = this.dirty();
    if (todo.length === 0) return;
    this.running = true;
    this.lastFlushAt = this.opts.clock.now();
    let failed = false;
    let failure: unknown;
    try {
      for (const [name, counts] of todo) {
        if (this.closed || this.desired.get(name) !== counts) continue; // reset or superseded meanwhile
        try {
          await this.write(name, counts);
        } catch (err) {
          failed = true;
          failure = err;
          this.opts.onError(err);
        }
      }
    } finally {
      this.running = false;
    }
    if (this.closed) return;
    if (failed) this.kick(this.backoff.nextAfter(failure));
    else {
      this.backoff.reset();
      if (this.dirty().length > 0) this.kick(0);
    }
  }

  private async write(name: string, counts: PoolCounts): Promise<void> {
    const uid = this.opts.stored(name)?.uid;
    const path = `/apis/${CRD_GROUP}/v1beta1/namespaces/${encodeURIComponent(this.opts.namespace)}/ipaddresspools/${encodeURIComponent(name)}/status`;
    this.writes++;
    try {
      await kubeRequest(this.opts.kubeConfig, 'PATCH', path, { body: { status: counts }, contentType: 'application/merge-patch+json' });
    } catch (err) {
      // Deleted meanwhile: its next object (if any) starts without a status and is written when seen.
      if (errorStatus(err) === 404) {
        this.written.delete(name);
        return;
      }
      throw err;
    }
    this.written.set(name, { uid, counts });
    this.opts.onWritten?.(name, counts);
  }
}
