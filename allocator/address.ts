// An address as the allocator holds it: IPv4 as a plain number (its uint32 value), IPv6 as a bigint.
// The type tells the family. IPv4 is the common case at scale and a number costs no heap object, no
// BigInt arithmetic and no conversion to key the slot index or format the text (issue 17's 100k
// allocations); the config keeps bigint for both (config/model.ts) and is converted once per config.
// The few operations whose arithmetic differs by family are here and only here; comparisons (<, ===)
// are the same for both, since two addresses compared are always of one family.
import type { Family } from '../config/model.js';

export type Addr = number | bigint;

export function familyOfAddr(a: Addr): Family {
  return typeof a === 'number' ? 'ipv4' : 'ipv6';
}

/** From the config's bigint: a number for IPv4 (exact: 2^32 is far below 2^53). */
export function toAddr(family: Family, n: bigint): Addr {
  return family === 'ipv4' ? Number(n) : n;
}

export function toBigInt(a: Addr): bigint {
  return typeof a === 'number' ? BigInt(a) : a;
}

/** a + 1. An IPv4 number never wraps (255.255.255.255 + 1 is 2^32, as with bigint). */
export function nextAddr(a: Addr): Addr {
  return typeof a === 'number' ? a + 1 : a + 1n;
}

/** a - 1 (0 - 1 is -1, as with bigint). */
export function prevAddr(a: Addr): Addr {
  return typeof a === 'number' ? a - 1 : a - 1n;
}

/** How many addresses [first, last] holds (may exceed 2^53 for IPv6, hence bigint). */
export function span(first: Addr, last: Addr): bigint {
  return toBigInt(last) - toBigInt(first) + 1n;
}
