// Writes the `status` of IPAddressPools (MetalLB v0.14+'s counts: assignedIPv4, assignedIPv6,
// availableIPv4, availableIPv6) for the leading controller, through the status subresource.
// Cost: nothing is read (the stored status comes from the config source's informer cache); a pool is
// written only when its counts differ from what it shows; all writes are paced to one flush per
// `minIntervalMs` (default 1 s), so an allocation storm of any size costs each pool at most one write
// per second, the newest counts winning. API errors are retried with back-off, never fatal.
import type { KubeAccess } from './access.js';
import type { Clock } from './clock.js';
import { CRD_GROUP } from './crds.js';
import { PacedWriter, type PassResult } from './paced-writer.js';
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
  private readonly pacer: PacedWriter;
  /** PATCHes sent. */
  writes = 0;

  constructor(private readonly opts: PoolStatusWriterOptions) {
    this.pacer = new PacedWriter({ clock: opts.clock, minIntervalMs: opts.minIntervalMs, pass: () => this.flush() });
  }

  /** The counts of every pool in force now (pools left out are not written any more). */
  report(counts: ReadonlyMap<string, PoolCounts>): void {
    if (this.pacer.isClosed) return;
    this.desired = new Map(counts);
    this.pacer.kick();
  }

  /** Leadership ended: nothing more is written until the next report (a new leader starts from the informer's view). */
  reset(): void {
    this.desired.clear();
    this.written.clear();
    this.pacer.cancel();
  }

  close(): void {
    this.pacer.close();
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

  /** One pass over the dirty pools (the pacing counts from its start); a failed write does not stop the others. */
  private async flush(): Promise<PassResult> {
    const todo = this.dirty();
    if (todo.length === 0) return { kind: 'idle' };
    this.pacer.wrote();
    let failed = false;
    let failure: unknown;
    for (const [name, counts] of todo) {
      if (this.pacer.isClosed || this.desired.get(name) !== counts) continue; // reset or superseded meanwhile
      try {
        await this.write(name, counts);
      } catch (err) {
        failed = true;
        failure = err;
        this.opts.onError(err);
      }
    }
    return failed ? { kind: 'failed', error: failure } : { kind: 'done', again: this.dirty().length > 0 };
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
