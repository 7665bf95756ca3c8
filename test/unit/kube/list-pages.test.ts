// The size of a list's later pages (list-pages.ts): by the bytes of the page before, within bounds.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_PAGE_ITEMS, MIN_PAGE_ITEMS, PAGE_BYTES, nextPageSize } from '../../../kube/list-pages.js';

describe('nextPageSize', () => {
  it('fills about PAGE_BYTES: ~7,600 Services of 1.1 kB, the cap for smaller objects, the floor for objects of 1 MB', () => {
    expect(nextPageSize(500, 500 * 1100, 500)).toBe(Math.floor(PAGE_BYTES / 1100));
    expect(nextPageSize(500, 500 * 300, 500)).toBe(MAX_PAGE_ITEMS);
    expect(nextPageSize(500, 500 * 1024 * 1024, 500)).toBe(MIN_PAGE_ITEMS);
    expect(nextPageSize(4, 4000, 500, 8000)).toBe(MIN_PAGE_ITEMS);
    expect(nextPageSize(4, 400, 500, 8000)).toBe(80);
  });

  it('an empty page (nothing to size by) keeps the limit it was asked with', () => {
    expect(nextPageSize(0, 0, 500)).toBe(500);
    expect(nextPageSize(0, 120, 37)).toBe(37);
  });

  it('always an integer within the bounds, and a page of the asked size stays near the target', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: 2, max: 3_000_000 }), fc.integer({ min: 1024, max: 64 << 20 }), (items, itemBytes, target) => {
        const next = nextPageSize(items, items * itemBytes, 500, target);
        expect(Number.isInteger(next)).toBe(true);
        expect(next).toBeGreaterThanOrEqual(MIN_PAGE_ITEMS);
        expect(next).toBeLessThanOrEqual(MAX_PAGE_ITEMS);
        if (next > MIN_PAGE_ITEMS) expect(next * itemBytes).toBeLessThanOrEqual(target);
        if (next < MAX_PAGE_ITEMS) expect((next + 1) * itemBytes).toBeGreaterThan(target);
      }),
    );
  });
});
