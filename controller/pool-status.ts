// The IPAddressPool status counts (MetalLB v0.14+'s fields) from the allocator's pool statistics.
import type { PoolStats } from '../allocator/allocator.js';
import type { PoolCounts } from '../kube/pool-status.js';

/**
 * Counts above 2^53 - 1 (IPv6 pools wider than a /75) are written as 2^53 - 1: the largest integer
 * every JSON client reads exactly (MetalLB writes 2^63 - 1 for pools of 2^62 addresses or more).
 */
export const COUNT_CAP = Number.MAX_SAFE_INTEGER;

function capped(n: bigint): number {
  return n > BigInt(COUNT_CAP) ? COUNT_CAP : Number(n);
}

/** assigned: addresses held (a shared address once); available: the rest of the family's usable addresses. */
export function poolCountsOf(s: PoolStats): PoolCounts {
  const v4 = s.ipv4;
  const v6 = s.ipv6;
  return {
    assignedIPv4: v4?.inUse ?? 0,
    assignedIPv6: v6?.inUse ?? 0,
    availableIPv4: v4 ? capped(v4.total - BigInt(v4.inUse)) : 0,
    availableIPv6: v6 ? capped(v6.total - BigInt(v6.inUse)) : 0,
  };
}
