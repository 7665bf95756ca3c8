import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Addr } from '../../../allocator/address.js';
import { FreeSpace } from '../../../allocator/free-space.js';

const list = (f: FreeSpace): [Addr, Addr][] => [...f.intervals()].map((i) => [i.start, i.end]);

describe('FreeSpace', () => {
  it('takes, splits and merges intervals', () => {
    const f = new FreeSpace([{ start: 0n, end: 9n }]);
    expect(f.take(0n)).toBe(true);
    expect(f.take(0n)).toBe(false);
    expect(f.take(5n)).toBe(true);
    expect(list(f)).toEqual([
      [1n, 4n],
      [6n, 9n],
    ]);
    expect(f.take(9n)).toBe(true);
    expect(f.release(5n)).toBe(true);
    expect(list(f)).toEqual([[1n, 8n]]);
    expect(f.release(5n)).toBe(false);
    expect(f.release(0n)).toBe(true);
    expect(f.release(9n)).toBe(true);
    expect(list(f)).toEqual([[0n, 9n]]);
    expect(f.intervalCount).toBe(1);
  });

  it('holds a /64 as one interval', () => {
    const f = new FreeSpace([{ start: 1n << 64n, end: (2n << 64n) - 1n }]);
    for (let i = 0; i < 1000; i++) f.take(f.first()!.start);
    expect(f.intervalCount).toBe(1);
    expect(f.first()!.start).toBe((1n << 64n) + 1000n);
  });

  it('matches a naive set on random operations, and stays within one interval per taken address; IPv4 numbers agree with bigint (property)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('take' as const), x: fc.bigInt({ min: 0n, max: 63n }) }),
      fc.record({ kind: fc.constant('release' as const), x: fc.bigInt({ min: 0n, max: 63n }) }),
      fc.record({ kind: fc.constant('lowest' as const) }),
    );
    // The same operations on a tree of IPv4 numbers (address.ts) placed at the ends of the space and
    // across 2^31 (where int32 arithmetic would go wrong): it must answer exactly as the bigint tree.
    const baseArb = fc.constantFrom(0, 2 ** 31 - 32, 2 ** 32 - 64);
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), baseArb, (ops, base) => {
        const f = new FreeSpace([
          { start: 0n, end: 31n },
          { start: 40n, end: 63n },
        ]);
        const g = new FreeSpace([
          { start: base, end: base + 31 },
          { start: base + 40, end: base + 63 },
        ]);
        const asNumber = (x: bigint): number => base + Number(x);
        const free = new Set<bigint>();
        for (let x = 0n; x <= 63n; x++) if (x <= 31n || x >= 40n) free.add(x);
        const inRange = (x: bigint): boolean => x <= 31n || x >= 40n;
        for (const o of ops) {
          if (o.kind === 'take') {
            const expected = free.delete(o.x);
            expect(f.take(o.x)).toBe(expected);
            expect(g.take(asNumber(o.x))).toBe(expected);
          } else if (o.kind === 'release') {
            if (!inRange(o.x)) continue;
            const wasFree = free.has(o.x);
            free.add(o.x);
            expect(f.release(o.x)).toBe(!wasFree);
            expect(g.release(asNumber(o.x))).toBe(!wasFree);
          } else {
            const lowest = [...free].sort((a, b) => (a < b ? -1 : 1))[0];
            expect(f.first()?.start).toBe(lowest);
            expect(g.first()?.start).toBe(lowest === undefined ? undefined : asNumber(lowest));
          }
          for (let x = 0n; x <= 63n; x++) {
            expect(f.has(x)).toBe(free.has(x));
            expect(g.has(asNumber(x))).toBe(free.has(x));
          }
          expect(f.intervalCount).toBeLessThanOrEqual(2 + (56 - free.size));
          // Intervals are disjoint, ordered and never adjacent (merged).
          const l = list(f);
          for (let i = 1; i < l.length; i++) expect(BigInt(l[i][0])).toBeGreaterThan(BigInt(l[i - 1][1]) + 1n);
          expect(list(g)).toEqual(l.map(([s, e]) => [asNumber(BigInt(s)), asNumber(BigInt(e))]));
        }
      }),
    );
  });
});
