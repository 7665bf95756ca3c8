// Overlapping address entries, across and within pools, found with one sort and a sweep
// (O(n log n): a config may have thousands of entries, so no all-pairs comparison).
import type { Issues } from './issues.js';
import type { AddressRange } from './model.js';

export interface LocatedRange {
  range: AddressRange;
  /** Path of the entry: `address-pools[1].addresses[0]`. */
  path: string;
  /** Position in the document, so each overlap is reported at the later entry. */
  order: number;
}

/**
 * Records one issue for each entry that overlaps an entry sorted before it (the one reaching furthest).
 * Every overlapping configuration gets at least one issue; each names both entries by path.
 */
export function checkOverlaps(entries: readonly LocatedRange[], issues: Issues): void {
  const sorted = [...entries].sort((a, b) => {
    if (a.range.family !== b.range.family) return a.range.family < b.range.family ? -1 : 1;
    if (a.range.first !== b.range.first) return a.range.first < b.range.first ? -1 : 1;
    if (a.range.last !== b.range.last) return a.range.last < b.range.last ? -1 : 1;
    return a.order - b.order;
  });
  let reach: LocatedRange | undefined; // the entry with the highest end so far, in this family
  const found: { at: LocatedRange; other: LocatedRange }[] = [];
  for (const cur of sorted) {
    if (reach && reach.range.family === cur.range.family && cur.range.first <= reach.range.last) {
      const [earlier, later] = reach.order < cur.order ? [reach, cur] : [cur, reach];
      found.push({ at: later, other: earlier });
    }
    if (!reach || reach.range.family !== cur.range.family || cur.range.last > reach.range.last) reach = cur;
  }
  // Report in document order, so messages read top to bottom.
  found.sort((a, b) => a.at.order - b.at.order || a.other.order - b.other.order);
  for (const { at, other } of found) {
    issues.add(at.path, `${at.range.source} overlaps ${other.range.source} at ${other.path}; address entries must not overlap, within or across pools`);
  }
}
