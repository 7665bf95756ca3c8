// Typed allocation failures: `reason` says what went wrong, the other fields say where.
import type { Family } from '../config/model.js';

export type AllocationFailure =
  /** The Service names a pool the config does not have. */
  | { reason: 'unknown-pool'; pool: string }
  /** No free address of `family` in `pool` (or, without a pool, in any pool the Service may use). */
  | { reason: 'pool-exhausted'; family: Family; pool?: string }
  /** A requested address lies in no pool. */
  | { reason: 'ip-not-in-pool'; ip: string }
  /** A requested address is .0 or .255 in a pool with avoid-buggy-ips, or (neverHost says what) can never be a host's. */
  | { reason: 'ip-excluded'; ip: string; pool: string; neverHost?: string }
  /** A requested address lies in another pool than the one the Service names (or than its other address). */
  | { reason: 'pool-mismatch'; ip: string; pool: string; requiredPool: string }
  /** A requested address is held by Services this one may not share with. */
  | { reason: 'ip-in-use'; ip: string; holders: string[]; why: string }
  /** The families asked for cannot be served: a requested address of the wrong family, or no pool with that family. */
  | { reason: 'family-mismatch'; family: Family; pool?: string; ip?: string }
  /** The pool's serviceAllocation does not let this Service use it (`ip`: the address asked for in it). */
  | { reason: 'pool-not-allowed'; pool: string; ip?: string }
  /** Which pools the Service may use depends on its Namespace's labels, not known yet. */
  | { reason: 'namespace-unknown'; namespace: string }
  /** The request itself is malformed (only for requests built by hand, not by serviceRequest()). */
  | { reason: 'invalid-request'; field: string; problem: string };

export type AllocationReason = AllocationFailure['reason'];

function describe(f: AllocationFailure): string {
  switch (f.reason) {
    case 'unknown-pool':
      return `address pool "${f.pool}" does not exist`;
    case 'pool-exhausted':
      return f.pool
        ? `address pool "${f.pool}" has no free ${f.family} address`
        : `no auto-assign address pool has a free ${f.family} address`;
    case 'ip-not-in-pool':
      return `requested address ${f.ip} is not in any address pool`;
    case 'ip-excluded':
      if (f.neverHost !== undefined) return `requested address ${f.ip} is ${f.neverHost}, never a host's address, though it lies in address pool "${f.pool}"`;
      return `requested address ${f.ip} is excluded by avoid-buggy-ips in address pool "${f.pool}"`;
    case 'pool-mismatch':
      return `requested address ${f.ip} is in address pool "${f.pool}", not in "${f.requiredPool}"`;
    case 'ip-in-use':
      // A few holders, then a count: the why must survive the 1 KiB Event note.
      return `requested address ${f.ip} is in use by ${f.holders.length > 3 ? `${f.holders.slice(0, 3).join(', ')} and ${f.holders.length - 3} more` : f.holders.join(', ')}: ${f.why}`;
    case 'family-mismatch':
      if (f.ip) return `requested address ${f.ip} is ${f.family}, which the Service's IP families do not include`;
      return f.pool
        ? `address pool "${f.pool}" has no ${f.family} addresses`
        : `no address pool the Service may use has ${f.family} addresses`;
    case 'pool-not-allowed':
      return `${f.ip ? `requested address ${f.ip} is in address pool "${f.pool}", which` : `address pool "${f.pool}"`} does not serve this Service: its serviceAllocation names other namespaces or Service labels`;
    case 'namespace-unknown':
      return `the labels of namespace "${f.namespace}" are not known yet, and an address pool chooses Services by them; retried when the Namespace is seen`;
    case 'invalid-request':
      return `invalid request: ${f.field}: ${f.problem}`;
  }
}

export class AllocationError extends Error {
  readonly failure: AllocationFailure;
  constructor(failure: AllocationFailure, key?: string) {
    super(key ? `${key}: ${describe(failure)}` : describe(failure));
    this.name = 'AllocationError';
    this.failure = failure;
  }
  get reason(): AllocationReason {
    return this.failure.reason;
  }
}
