// Address blocks that can never be a host's, whatever a pool says: a Service given one of them is
// unreachable (or worse, answers for loopback or multicast). The allocator never hands them out and
// `config check` warns about pools that contain them. One list, used by both. (.0/.255 are not here:
// they are valid host addresses that only avoid-buggy-ips excludes.)
import type { Family } from './model.js';

export interface NeverHostBlock {
  family: Family;
  first: bigint;
  last: bigint;
  /** What the block is, for messages: "loopback". */
  what: string;
}

const V4_TOP = (1n << 32n) - 1n;
const V6_TOP = (1n << 128n) - 1n;

/** Sorted by family, then first address; disjoint. */
export const NEVER_HOST: readonly NeverHostBlock[] = [
  { family: 'ipv4', first: 0n, last: 0n, what: 'the unspecified address' },
  { family: 'ipv4', first: 127n << 24n, last: (128n << 24n) - 1n, what: 'loopback (127.0.0.0/8)' },
  { family: 'ipv4', first: 224n << 24n, last: (240n << 24n) - 1n, what: 'multicast (224.0.0.0/4)' },
  { family: 'ipv4', first: 240n << 24n, last: V4_TOP - 1n, what: 'reserved (240.0.0.0/4)' },
  { family: 'ipv4', first: V4_TOP, last: V4_TOP, what: 'the limited broadcast address' },
  { family: 'ipv6', first: 0n, last: 0n, what: 'the unspecified address' },
  { family: 'ipv6', first: 1n, last: 1n, what: 'loopback' },
  { family: 'ipv6', first: 0xffn << 120n, last: V6_TOP, what: 'multicast (ff00::/8)' },
];

const BY_FAMILY: Record<Family, readonly NeverHostBlock[]> = {
  ipv4: NEVER_HOST.filter((b) => b.family === 'ipv4'),
  ipv6: NEVER_HOST.filter((b) => b.family === 'ipv6'),
};

export function neverHostBlocks(family: Family): readonly NeverHostBlock[] {
  return BY_FAMILY[family];
}

/** What the address is when it can never be a host's ("loopback (127.0.0.0/8)"), else undefined. */
export function neverHost(family: Family, num: bigint): string | undefined {
  for (const b of BY_FAMILY[family]) if (num >= b.first && num <= b.last) return b.what;
  return undefined;
}

/** The parts of [first, last] that can never be a host's, each with what it is. */
export function neverHostWithin(family: Family, first: bigint, last: bigint): { first: bigint; last: bigint; what: string }[] {
  const out: { first: bigint; last: bigint; what: string }[] = [];
  for (const b of BY_FAMILY[family]) {
    if (b.last < first || b.first > last) continue;
    out.push({ first: b.first > first ? b.first : first, last: b.last < last ? b.last : last, what: b.what });
  }
  return out;
}
