import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Issues } from '../../../config/issues.js';
import type { AddressRange } from '../../../config/model.js';
import { checkOverlaps, type LocatedRange } from '../../../config/overlaps.js';

const entry = (first: number, last: number, order: number, family: 'ipv4' | 'ipv6' = 'ipv4'): LocatedRange => ({
  range: { family, first: BigInt(first), last: BigInt(last), source: `${first}-${last}` } satisfies AddressRange,
  path: `e[${order}]`,
  order,
});

function run(entries: LocatedRange[]) {
  const issues = new Issues();
  checkOverlaps(entries, issues);
  return issues.list;
}

describe('checkOverlaps', () => {
  it('reports an overlap at the later entry, naming the earlier one', () => {
    expect(run([entry(10, 20, 0), entry(15, 30, 1)])).toEqual([{ path: 'e[1]', message: '15-30 overlaps 10-20 at e[0]; address entries must not overlap, within or across pools' }]);
    expect(run([entry(15, 30, 0), entry(10, 20, 1)])).toEqual([{ path: 'e[1]', message: '10-20 overlaps 15-30 at e[0]; address entries must not overlap, within or across pools' }]);
  });

  it('touching is not overlapping; sharing one address is', () => {
    expect(run([entry(0, 9, 0), entry(10, 19, 1)])).toEqual([]);
    expect(run([entry(0, 10, 0), entry(10, 19, 1)])).toHaveLength(1);
  });

  it('identical entries overlap', () => {
    expect(run([entry(5, 5, 0), entry(5, 5, 1)])).toHaveLength(1);
  });

  it('families never overlap each other', () => {
    expect(run([entry(0, 100, 0, 'ipv4'), entry(0, 100, 1, 'ipv6')])).toEqual([]);
  });

  it('finds an entry nested in a wide earlier one after narrower ones', () => {
    const issues = run([entry(0, 1000, 0), entry(10, 20, 1), entry(500, 600, 2)]);
    expect(issues.map((i) => i.path)).toEqual(['e[1]', 'e[2]']);
  });

  it('matches a brute-force check on random entries', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(200), fc.nat(30), fc.boolean()), { maxLength: 40 }), (raw) => {
        const entries = raw.map(([a, len, v6], i) => entry(a, a + len, i, v6 ? 'ipv6' : 'ipv4'));
        const issues = run(entries);
        const overlap = (x: LocatedRange, y: LocatedRange) =>
          x.range.family === y.range.family && x.range.first <= y.range.last && y.range.first <= x.range.last;
        const anyOverlap = entries.some((x, i) => entries.some((y, j) => i < j && overlap(x, y)));
        expect(issues.length > 0).toBe(anyOverlap);
        for (const issue of issues) {
          const at = entries.find((e) => e.path === issue.path) as LocatedRange;
          const otherPath = /at (e\[\d+\])/.exec(issue.message)?.[1];
          const other = entries.find((e) => e.path === otherPath) as LocatedRange;
          expect(overlap(at, other)).toBe(true);
          expect(other.order).toBeLessThan(at.order);
        }
        // Every entry that overlaps anything is named in some issue.
        const named = new Set(issues.flatMap((i) => [i.path, /at (e\[\d+\])/.exec(i.message)?.[1]]));
        for (const x of entries) {
          if (entries.some((y) => y !== x && overlap(x, y))) expect(named.has(x.path)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('handles many entries (sort and sweep, not all pairs)', () => {
    const entries = Array.from({ length: 50_000 }, (_, i) => entry(i * 10, i * 10 + 9, i));
    expect(run(entries)).toEqual([]);
    entries.push(entry(5, 499_995, 50_000));
    expect(run(entries).length).toBe(1000 + 1); // capped, with the remainder counted
  });
});
