// Services that could not get an address, and what could change that: retried when an address they
// could use is freed (or the config changes, which retries every Service), not on every release (9
// impossible Services x 1,115 releases were 10,035 retries and warn lines). A repeat of the same
// failure is not logged again. Pure: the controller feeds it decisions and freed addresses.
import type { Family } from '../config/model.js';
import { AllocationError } from '../allocator/allocator.js';
import { parseIp } from '../allocator/ip.js';
import type { ServiceRequestError } from '../allocator/service-request.js';

/** What a pending Service waits for. */
export type Unblock =
  /** Only a config change or an update of the Service itself can help (bad request, unknown pool, ...). */
  | { kind: 'config' }
  /** The address it asks for, held by Services it may not share with. */
  | { kind: 'ip'; ip: string }
  /** A free address of one of `families` in `pool` (undefined: any auto-assign pool). */
  | { kind: 'space'; families: Family[]; pool: string | undefined }
  /** Its Namespace's labels (retried when the Namespace is seen or changes, as every pending Service of it). */
  | { kind: 'namespace' };

/** A freed address, with the pool it is in under the config in force. */
export interface Freed {
  ip: string;
  pool: string | undefined;
  autoAssign: boolean;
}

export function unblockedBy(err: AllocationError | ServiceRequestError, families: readonly Family[]): Unblock {
  if (!(err instanceof AllocationError)) return { kind: 'config' };
  const f = err.failure;
  if (f.reason === 'ip-in-use') return { kind: 'ip', ip: f.ip };
  if (f.reason === 'namespace-unknown') return { kind: 'namespace' };
  // Every family asked for: with several pools, another family may be what one of them lacks.
  if (f.reason === 'pool-exhausted') return { kind: 'space', families: [...families], pool: f.pool };
  return { kind: 'config' };
}

function couldUse(u: Unblock, freed: Freed): boolean {
  switch (u.kind) {
    case 'config':
    case 'namespace':
      return false;
    case 'ip':
      return u.ip === freed.ip;
    case 'space': {
      const family = parseIp(freed.ip)?.family;
      if (family === undefined || !u.families.includes(family) || freed.pool === undefined) return false;
      return u.pool === undefined ? freed.autoAssign : u.pool === freed.pool;
    }
  }
}

export class PendingServices {
  private readonly waiting = new Map<string, { unblock: Unblock; reason: string }>();

  get size(): number {
    return this.waiting.size;
  }

  has(key: string): boolean {
    return this.waiting.has(key);
  }

  /** Records a failure; true when it should be logged (new, or a different reason than last time). */
  failed(key: string, reason: string, unblock: Unblock): boolean {
    const last = this.waiting.get(key);
    this.waiting.set(key, { unblock, reason });
    return last?.reason !== reason;
  }

  /** The Service got an address, was deleted or is not ours any more. */
  delete(key: string): void {
    this.waiting.delete(key);
  }

  clear(): void {
    this.waiting.clear();
  }

  /** Every pending Service of `namespace`: its labels changed, so the pools it may use may have. */
  *inNamespace(namespace: string): Generator<string> {
    for (const key of this.waiting.keys()) if (key.startsWith(`${namespace}/`)) yield key;
  }

  /** The pending Services that could use one of `freed`. */
  *retryFor(freed: readonly Freed[]): Generator<string> {
    for (const [key, w] of this.waiting) if (freed.some((f) => couldUse(w.unblock, f))) yield key;
  }
}
