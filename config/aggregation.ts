// The aggregation-length rule of a BGP advertisement against its pool's address entries, as MetalLB
// v0.12 has it: an entry is refused only when the aggregate is wider than the entry's widest CIDR block
// (for a CIDR: its prefix). A dash range splits into blocks of several sizes, so an aggregate of one of
// its narrower blocks can still reach past the pool: that is announced, so it is a warning naming them.
import { bitsOf, formatIp, rangeToCidrs } from './addresses.js';
import { Issues, keyPath } from './issues.js';
import type { AddressRange, BgpAdvertisement, Family } from './model.js';

export interface LocatedEntry {
  range: AddressRange;
  path: string;
}

function blocksOf(range: AddressRange): { first: bigint; prefixLength: number }[] {
  if (range.prefixLength !== undefined) return [{ first: range.first, prefixLength: range.prefixLength }];
  return rangeToCidrs(range.family, range.first, range.last);
}

function runText(family: Family, first: bigint, last: bigint): string {
  return first === last ? formatIp(family, first) : `${formatIp(family, first)}-${formatIp(family, last)}`;
}

/** The runs of [first, last] that no entry of `sorted` (one family, ordered by first address) covers. */
function uncovered(first: bigint, last: bigint, sorted: readonly AddressRange[]): { first: bigint; last: bigint }[] {
  // Binary search for the first entry that ends at or after `first`: only entries from there on can cover.
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid].last < first) lo = mid + 1;
    else hi = mid;
  }
  const gaps: { first: bigint; last: bigint }[] = [];
  let cursor = first;
  for (let i = lo; i < sorted.length && sorted[i].first <= last && cursor <= last; i++) {
    if (sorted[i].first > cursor) gaps.push({ first: cursor, last: sorted[i].first - 1n });
    if (sorted[i].last + 1n > cursor) cursor = sorted[i].last + 1n;
  }
  if (cursor <= last) gaps.push({ first: cursor, last });
  return gaps;
}

/** The CIDR blocks of an entry and its widest one (the shortest prefix). */
function widestBlock(range: AddressRange): { blocks: { first: bigint; prefixLength: number }[]; widest: { first: bigint; prefixLength: number } } {
  const blocks = blocksOf(range);
  let widest = blocks[0];
  for (const b of blocks) if (b.prefixLength < widest.prefixLength) widest = b;
  return { blocks, widest };
}

function lengthOf(adv: BgpAdvertisement, range: AddressRange): { length: number; key: string } {
  return range.family === 'ipv6' ? { length: adv.aggregationLengthV6, key: 'aggregation-length-v6' } : { length: adv.aggregationLength, key: 'aggregation-length' };
}

/** Records an error for each entry the advertisement's aggregation length is too short for (MetalLB v0.12's rule). */
export function checkAggregation(adv: BgpAdvertisement, advPath: string, entries: readonly LocatedEntry[], issues: Issues): void {
  for (const { range, path } of entries) {
    const { length, key } = lengthOf(adv, range);
    const { widest } = widestBlock(range);
    if (length >= widest.prefixLength) continue;
    const what =
      range.prefixLength !== undefined
        ? `the prefix length of ${range.source} (${path})`
        : `the prefix length of ${formatIp(range.family, widest.first)}/${widest.prefixLength}, the widest block of the range ${range.source} (${path})`;
    issues.add(
      keyPath(advPath, key),
      `${key} ${length} is shorter than ${what}: the aggregate would announce addresses outside the pool; use at least ${widest.prefixLength}`,
    );
  }
}

/**
 * Records a warning for each dash range whose aggregates cover addresses outside the pool, naming
 * them. Only for a pool checkAggregation accepted: then every entry holds a block at least as wide
 * as an aggregate, so each aggregate meets few entries and the walk stays short even for hostile input.
 */
export function aggregationWarnings(adv: BgpAdvertisement, advPath: string, entries: readonly LocatedEntry[], warnings: Issues): void {
  const sortedByFamily = new Map<Family, AddressRange[]>();
  for (const family of ['ipv4', 'ipv6'] as const) {
    sortedByFamily.set(
      family,
      entries
        .map((e) => e.range)
        .filter((r) => r.family === family)
        .sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0)),
    );
  }
  for (const { range, path } of entries) {
    const { length, key } = lengthOf(adv, range);
    const { blocks } = widestBlock(range);
    // The narrower blocks sit at the range's two ends, so there are at most two such aggregates.
    const hostBits = BigInt(bitsOf(range.family) - length);
    const aggregates = new Set<bigint>();
    for (const b of blocks) if (b.prefixLength > length) aggregates.add((b.first >> hostBits) << hostBits);
    const reaching: string[] = [];
    for (const first of aggregates) {
      const last = first + (1n << hostBits) - 1n;
      const gaps = uncovered(first, last, sortedByFamily.get(range.family) ?? []);
      if (gaps.length === 0) continue;
      const runs = gaps.map((g) => runText(range.family, g.first, g.last));
      reaching.push(`${formatIp(range.family, first)}/${length} (covering ${runs.join(', ')} outside the pool)`);
    }
    if (reaching.length === 0) continue;
    warnings.add(
      keyPath(advPath, key),
      `${key} ${length} on range ${range.source} (${path}) announces ${reaching.join(', ')}; ` +
        'routers will send traffic for those addresses here (use a longer aggregation-length, or CIDR-aligned ranges, to avoid it)',
    );
  }
}
